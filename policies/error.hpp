#pragma once
// Error values shared by every mitigd library. Callers branch on `code`; `message` is for people
// and always names the file, field or resource involved.
#include <boost/system/result.hpp>
#include <boost/assert/source_location.hpp>
#include <stdexcept>
#include <string>

namespace mitigd {

enum class Errc {
  invalid_input,      // a file or argument does not satisfy its schema
  not_found,          // a named file, unit, mitigation... does not exist
  io,                 // reading or writing failed
  conflict,           // another writer holds the lock, or state changed underneath (stale plan)
  validation_failed,  // the web server refused the candidate config
  probe_failed,       // a probe did not get the expected verdict
  permission_denied,
  unavailable,        // a remote or a system service cannot be reached now (retry later)
  timeout,
  // The server's own state prevents the change and no mitigation is to blame: its live config
  // is already invalid, the reload command or the service manager fails. Retried when the
  // environment recovers, never counted against a mitigation.
  environment,
  internal,
};

const char* to_string(Errc code);

struct Error {
  Errc code = Errc::internal;
  std::string message;
};

// Thrown only where a Result is unwrapped by value() on an error: a programming error.
class ErrorException : public std::runtime_error {
 public:
  explicit ErrorException(Error e) : std::runtime_error(e.message), error_(std::move(e)) {}
  const Error& error() const { return error_; }

 private:
  Error error_;
};

[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw ErrorException(e);
}

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

inline const char* to_string(Errc code) {
  switch (code) {
    case Errc::invalid_input: return "invalid_input";
    case Errc::not_found: return "not_found";
    case Errc::io: return "io";
    case Errc::conflict: return "conflict";
    case Errc::validation_failed: return "validation_failed";
    case Errc::probe_failed: return "probe_failed";
    case Errc::permission_denied: return "permission_denied";
    case Errc::unavailable: return "unavailable";
    case Errc::timeout: return "timeout";
    case Errc::environment: return "environment";
    case Errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace mitigd
