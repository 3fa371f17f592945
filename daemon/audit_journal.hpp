#pragma once
// Audit records to the system journal, with structured fields (MITIGD_EVENT, MITIGD_MITIGATION,
// MITIGD_AUDIT_SEQ...), so `journalctl MITIGD_EVENT=reverted` finds them beside the rest of the
// system's logs. Only when a journal is present; the hash-chained log in the store stays the
// record of truth.
#include "state/store.hpp"

#include <string>
#include <vector>

namespace mitigd {

// "FIELD=value" entries for one record (pure, for tests).
std::vector<std::string> audit_journal_fields(const state::AuditRecord& r, const std::string& identifier);

// Installs the listener on `store` when /run/systemd/journal/socket exists.
void attach_audit_journal(state::Store& store, const std::string& identifier);

}  // namespace mitigd
