#pragma once
// The one way mitigd replaces a file: through a descriptor of its directory, a fresh temporary
// name created with O_EXCL|O_NOFOLLOW (never an existing file or a planted symlink), written,
// fsynced, renamed over the target with renameat, and the directory fsynced. Safe whoever else can
// write the directory: nothing outside it is ever opened, truncated or replaced. Readers see the
// old file or the new one.
#include "policies/error.hpp"

#include <string>
#include <string_view>

namespace mitigd {

// Replaces `path` (its last component must not be a symlink to follow; a symlink there is replaced,
// not followed) with `content`, created with `mode`.
Result<void> write_file_atomically(const std::string& path, std::string_view content, unsigned mode = 0644);

// Removes `path` through its directory's descriptor (a symlink is removed, not followed). Absent
// is success.
Result<void> remove_file_in_dir(const std::string& path);

// Temporary names made by write_file_atomically end with this (watchers ignore them).
constexpr std::string_view kTempSuffix = ".mitigd-tmp";

}  // namespace mitigd
