#pragma once
// Where verified manifests come from. Until the signed TUF feed lands, a directory of manifest
// files (an operator's local set, or a mirror already verified by other means).
#include "policies/manifest.hpp"

#include <string>
#include <vector>

namespace mitigd::feed {

struct ManifestSet {
  std::vector<Manifest> manifests;  // sorted by id; ids unique
  std::vector<std::string> sha256;  // of each manifest's bytes, same order
};

// Loads every *.json in dir. All or nothing: one bad file fails the whole set, so the caller
// keeps the last good one.
Result<ManifestSet> load_manifest_dir(const std::string& dir);

}  // namespace mitigd::feed
