#include "daemon/audit_journal.hpp"

#include <systemd/sd-journal.h>
#include <sys/uio.h>

#include <filesystem>

namespace mitigd {

std::vector<std::string> audit_journal_fields(const state::AuditRecord& r, const std::string& identifier) {
  int priority = 5;  // notice
  if (r.event == "failed") priority = 3;
  else if (r.event.rfind("feed_", 0) == 0 && r.event != "feed_recovered" && r.event != "feed_changed") priority = 4;
  std::string message = r.event;
  if (!r.mitigation_id.empty()) message += " " + r.mitigation_id;
  message += ": " + r.message;
  // Journal fields are single values; a newline inside is allowed by the native protocol, but
  // a message stays one line for people reading `journalctl`.
  for (auto& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return {"MESSAGE=" + message,
          "PRIORITY=" + std::to_string(priority),
          "SYSLOG_IDENTIFIER=" + identifier,
          "MESSAGE_ID=8f5b3c1e6a7d4e2f9b0c1d2e3f4a5b6c",  // every mitigd audit record
          "MITIGD_EVENT=" + r.event,
          "MITIGD_MITIGATION=" + r.mitigation_id,
          "MITIGD_REVISION=" + std::to_string(r.revision),
          "MITIGD_RUN=" + r.run_id,
          "MITIGD_ACTOR=" + r.actor,
          "MITIGD_AUDIT_SEQ=" + std::to_string(r.seq),
          "MITIGD_AUDIT_HASH=" + r.hash,
          "MITIGD_AUDIT_AT=" + r.at,
          "MITIGD_DETAIL=" + r.detail};
}

void attach_audit_journal(state::Store& store, const std::string& identifier) {
  std::error_code ec;
  if (!std::filesystem::exists("/run/systemd/journal/socket", ec)) return;
  store.set_audit_listener([identifier](const state::AuditRecord& r) {
    auto fields = audit_journal_fields(r, identifier);
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (auto& f : fields) iov.push_back({f.data(), f.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  });
}

}  // namespace mitigd
