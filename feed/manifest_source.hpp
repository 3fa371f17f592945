#pragma once
// Where verified manifests come from when no TUF feed is configured: a directory of manifest files
// (an operator's local set, or a mirror already verified by other means).
#include "policies/manifest.hpp"

#include <string>
#include <vector>

namespace mitigd::state { class Store; }

namespace mitigd::feed {

struct ManifestSet {
  std::vector<Manifest> manifests;  // sorted by id; ids unique
  std::vector<std::string> sha256;  // of each manifest's bytes, same order
  // Refused manifests with no earlier good version to use instead: reported, never applied, and
  // whatever the ledger holds for their id stays as it is.
  std::vector<InvalidManifest> invalid;
  // Refused manifests replaced by their last good version (kept in force), for the logs.
  std::vector<std::string> notes;
};

// Loads every *.json in dir, each on its own: a file that does not parse or validate does not stop
// the others. With a store, the last good bytes of each file are kept, and a file that turns bad
// is replaced by them (its last good revision stays in force) instead of being dropped.
Result<ManifestSet> load_manifest_dir(const std::string& dir, state::Store* store = nullptr);

}  // namespace mitigd::feed
