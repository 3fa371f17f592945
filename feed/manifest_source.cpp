#include "feed/manifest_source.hpp"

#include "policies/json_input.hpp"
#include "policies/limits.hpp"

#include <botan/hash.h>
#include <botan/hex.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace mitigd::feed {
namespace fs = std::filesystem;

Result<ManifestSet> load_manifest_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error(Errc::not_found, dir + ": not a directory of manifests");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json" && e.is_regular_file(ec)) files.push_back(e.path());
  }
  if (ec) return make_error(Errc::io, dir + ": " + ec.message());
  if (files.size() > limits::kManifests) {
    return make_error(Errc::invalid_input, dir + ": more than " + std::to_string(limits::kManifests) + " manifests");
  }
  std::sort(files.begin(), files.end());
  std::vector<std::pair<Manifest, std::string>> loaded;
  loaded.reserve(files.size());
  std::map<std::string, std::string> first_file;
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  for (const auto& f : files) {
    auto text = json_input::read_file_capped(f.string(), limits::kManifestBytes);
    if (!text) return text.error();
    auto m = parse_manifest(f.string(), *text);
    if (!m) return m.error();
    auto [it, fresh] = first_file.emplace(m->id, f.string());
    if (!fresh) {
      return make_error(Errc::invalid_input, f.string() + ": id " + m->id + " is already used by " + it->second);
    }
    hash->update(*text);
    loaded.emplace_back(std::move(*m), Botan::hex_encode(hash->final(), false));
  }
  std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  ManifestSet set;
  set.manifests.reserve(loaded.size());
  for (auto& [m, h] : loaded) {
    set.manifests.push_back(std::move(m));
    set.sha256.push_back(std::move(h));
  }
  return set;
}

}  // namespace mitigd::feed
