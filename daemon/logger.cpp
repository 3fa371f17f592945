#include "daemon/logger.hpp"

#include <systemd/sd-journal.h>

#include <cstdlib>
#include <iostream>
#include <vector>

namespace mitigd {

Logger::Logger() : journal_(std::getenv("JOURNAL_STREAM") != nullptr) {}

void Logger::log(int priority, const std::string& message, const std::map<std::string, std::string>& fields) {
  if (journal_) {
    std::vector<std::string> items{"MESSAGE=" + message, "PRIORITY=" + std::to_string(priority), "SYSLOG_IDENTIFIER=mitigd"};
    for (const auto& [k, v] : fields) {
      if (!v.empty()) items.push_back("MITIGD_" + k + "=" + v);
    }
    std::vector<iovec> iov;
    for (auto& s : items) iov.push_back({s.data(), s.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    return;
  }
  std::cerr << "mitigd: " << message;
  for (const auto& [k, v] : fields) {
    if (!v.empty()) std::cerr << " " << k << "=" << v;
  }
  std::cerr << std::endl;
}

}  // namespace mitigd
