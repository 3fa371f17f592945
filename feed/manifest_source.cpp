#include "feed/manifest_source.hpp"

#include "policies/json_input.hpp"
#include "policies/limits.hpp"
#include "state/store.hpp"

#include <botan/hash.h>
#include <botan/hex.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace mitigd::feed {
namespace fs = std::filesystem;

namespace {

std::string sha256_hex(std::string_view bytes) {
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  hash->update(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return Botan::hex_encode(hash->final(), false);
}

// One file: parsed, or replaced by its last good bytes, or reported invalid.
struct Loaded {
  std::optional<Manifest> manifest;
  std::string sha256;
};

Loaded load_one(const fs::path& f, state::Store* store, ManifestSet& set) {
  std::string name = f.filename().string();
  auto text = json_input::read_file_capped(f.string(), limits::kManifestBytes);
  Error error;
  if (text) {
    auto m = parse_manifest(f.string(), *text);
    if (m) {
      if (store && store->last_good_get("dir:" + name) != *text) store->last_good_put("dir:" + name, *text);
      return {std::move(*m), sha256_hex(*text)};
    }
    error = m.error();
  } else {
    error = text.error();
  }
  if (store) {
    if (auto good = store->last_good_get("dir:" + name)) {
      if (auto m = parse_manifest(f.string() + " (last good version)", *good)) {
        set.notes.push_back(error.message + "; its last good version (" + m->id + " revision " +
                            std::to_string(m->revision) + ") stays in force");
        return {std::move(*m), sha256_hex(*good)};
      }
    }
  }
  set.invalid.push_back({guess_manifest_id(text ? std::string_view(*text) : std::string_view(), name), f.string(), error.message});
  return {};
}

}  // namespace

Result<ManifestSet> load_manifest_dir(const std::string& dir, state::Store* store) {
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
  ManifestSet set;
  std::vector<std::pair<Manifest, std::string>> loaded;
  std::map<std::string, std::string> first_file;
  for (const auto& f : files) {
    Loaded one = load_one(f, store, set);
    if (!one.manifest) continue;
    auto [it, fresh] = first_file.emplace(one.manifest->id, f.string());
    if (!fresh) {
      set.invalid.push_back({one.manifest->id, f.string(), "id " + one.manifest->id + " is already used by " + it->second});
      continue;
    }
    loaded.emplace_back(std::move(*one.manifest), std::move(one.sha256));
  }
  std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  set.manifests.reserve(loaded.size());
  for (auto& [m, h] : loaded) {
    set.manifests.push_back(std::move(m));
    set.sha256.push_back(std::move(h));
  }
  return set;
}

}  // namespace mitigd::feed
