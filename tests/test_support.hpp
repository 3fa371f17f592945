#pragma once
// Lets Catch print our Result values (boost::system::result's own operator<< needs T printable).
#include "policies/error.hpp"

#include <catch2/catch.hpp>

namespace Catch {
template <class T>
struct StringMaker<boost::system::result<T, mitigd::Error>> {
  static std::string convert(const boost::system::result<T, mitigd::Error>& r) {
    return r ? std::string("ok") : "error: " + r.error().message;
  }
};
}  // namespace Catch
