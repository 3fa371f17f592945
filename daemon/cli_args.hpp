#pragma once
// A small, strict command-line reader: unknown options are errors, every option says what it takes.
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace mitigd {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // value_options take a value (--out FILE); flags do not.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& value_options, const std::set<std::string>& flags) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      std::string a = argv[i];
      if (a == "-o") a = "--output";
      if (a.starts_with("--") && a.find('=') != std::string::npos) {
        std::string name = a.substr(0, a.find('='));
        if (!value_options.contains(name)) throw UsageError("unknown option " + name);
        values_[name].push_back(a.substr(a.find('=') + 1));
      } else if (value_options.contains(a)) {
        if (i + 1 >= argv.size()) throw UsageError(a + " needs a value");
        values_[a].push_back(argv[++i]);
      } else if (flags.contains(a)) {
        flags_.insert(a);
      } else if (a.starts_with("-") && a.size() > 1) {
        throw UsageError("unknown option " + a);
      } else {
        positional_.push_back(a);
      }
    }
  }
  bool flag(const std::string& name) const { return flags_.contains(name); }
  std::optional<std::string> value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> values(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace mitigd
