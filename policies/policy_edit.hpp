#pragma once
// Edits a policy file's text the way a careful person would: the smallest change, in place, so a
// one-entry change is a one-line git diff and block followed by unblock gives back the same bytes.
// The input must be a valid policy file and so must the output; both are checked.
#include "policies/error.hpp"
#include "policies/policy.hpp"

#include <string>
#include <vector>

namespace mitigd::policy_edit {

// Adds an entry for each id not yet blocked (newest first). Existing entries are left as they are.
Result<std::string> block(const std::string& file, const std::string& text, const std::vector<BlockEntry>& entries);
Result<std::string> unblock(const std::string& file, const std::string& text, const std::vector<std::string>& ids);
Result<std::string> clear(const std::string& file, const std::string& text);
Result<std::string> set_enabled(const std::string& file, const std::string& text, bool enabled);

// The one-line JSON of a blocklist entry, fields in a fixed order.
std::string entry_line(const BlockEntry& e);

}  // namespace mitigd::policy_edit
