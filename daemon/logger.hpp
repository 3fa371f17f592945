#pragma once
// The daemon's log: to the journal with structured fields under systemd (JOURNAL_STREAM is set),
// to stderr otherwise. Fields are MITIGD_<NAME>; empty values are left out.
#include <syslog.h>

#include <map>
#include <string>

namespace mitigd {

class Logger {
 public:
  Logger();
  void log(int priority, const std::string& message, const std::map<std::string, std::string>& fields = {});

 private:
  bool journal_;
};

}  // namespace mitigd
