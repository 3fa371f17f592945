// The targets half of the TUF client: walking the delegations to a target (find_target), listing
// every target (all_targets) and downloading one against its trusted hashes (download_target).
// Loading and refreshing the top-level roles is in tuf_client.cpp.
#include "feed/tuf_client.hpp"

#include "policies/atomic_file.hpp"
#include "policies/json_input.hpp"

#include <deque>
#include <filesystem>
#include <stdexcept>

namespace mitigd::feed {
namespace fs = std::filesystem;

Result<const Targets*> Updater::load_role(const RoleVisit& v) {
  if (!v.role) return &*targets_;
  return load_delegated(v.parent, *v.role, *v.keys);
}

Result<std::optional<TargetFile>> Updater::find_target(const std::string& path) {
  if (!targets_) return make_error(Errc::not_found, "no trusted targets metadata: refresh first");
  std::vector<RoleVisit> stack{{"", nullptr, nullptr}};
  std::set<std::string> visited;
  std::deque<DelegatedRole> synthesized;  // succinct bins, alive while the search runs
  std::size_t loaded = 0;
  while (!stack.empty()) {
    auto v = stack.back();
    stack.pop_back();
    const std::string name = v.role ? v.role->name : "targets";
    if (visited.count(name)) continue;
    if (v.role && ++loaded > config_.limits.max_delegations) {
      return make_error(Errc::invalid_input, "more than " + std::to_string(config_.limits.max_delegations) +
                                                 " delegated roles searched for " + path);
    }
    auto loaded_role = load_role(v);
    if (!loaded_role) return loaded_role.error();
    const Targets* t = *loaded_role;
    visited.insert(name);
    if (auto it = t->targets.find(path); it != t->targets.end()) return std::optional<TargetFile>(it->second);
    if (!t->delegations) continue;
    std::vector<RoleVisit> children;
    if (t->delegations->succinct) {
      // Exactly one bin can hold the path; succinct bins do not terminate the search.
      const auto& sr = *t->delegations->succinct;
      synthesized.push_back(DelegatedRole{sr.role_for(path), sr.keys, false, {}, {}});
      children.push_back({name, &synthesized.back(), &t->delegations->keys});
    }
    for (const auto& child : t->delegations->roles) {
      if (!child.matches(path)) continue;
      children.push_back({name, &child, &t->delegations->keys});
      if (child.terminating) {
        stack.clear();  // nothing after a terminating delegation is searched
        break;
      }
    }
    stack.insert(stack.end(), children.rbegin(), children.rend());
  }
  return std::optional<TargetFile>{};
}

Result<std::vector<TargetFile>> Updater::all_targets() {
  if (!targets_) return make_error(Errc::not_found, "no trusted targets metadata: refresh first");
  // Collect candidate paths from every reachable role, then resolve each the way a single
  // lookup would, so delegation patterns and terminating flags decide.
  std::set<std::string> candidates;
  std::vector<RoleVisit> queue{{"", nullptr, nullptr}};
  std::deque<DelegatedRole> synthesized;
  std::set<std::string> seen;
  std::size_t loaded = 0;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    auto v = queue[i];
    const std::string name = v.role ? v.role->name : "targets";
    if (!seen.insert(v.parent + "/" + name).second) continue;
    // Every role loaded here must be listed in the snapshot (whose size is capped), so the walk
    // is bounded by it; the per-search cap still applies on top of that.
    if (v.role && ++loaded > config_.limits.max_delegations + snapshot_->meta.size()) {
      return make_error(Errc::invalid_input, "more delegated roles than the snapshot lists");
    }
    auto loaded_role = load_role(v);
    if (!loaded_role) return loaded_role.error();
    const Targets* t = *loaded_role;
    for (const auto& [p, _] : t->targets) candidates.insert(p);
    if (t->delegations) {
      for (const auto& child : t->delegations->roles) queue.push_back({name, &child, &t->delegations->keys});
      if (t->delegations->succinct) {
        // Only bins the snapshot lists exist; there may be up to 2^32 names otherwise.
        const auto& sr = *t->delegations->succinct;
        for (const auto& [file, meta] : snapshot_->meta) {
          if (!file.ends_with(".json")) continue;
          std::string role = file.substr(0, file.size() - 5);
          if (!sr.is_bin(role)) continue;
          synthesized.push_back(DelegatedRole{role, sr.keys, false, {}, {}});
          queue.push_back({name, &synthesized.back(), &t->delegations->keys});
        }
      }
    }
  }
  std::vector<TargetFile> out;
  for (const auto& p : candidates) {
    auto f = find_target(p);
    // A path listed by a role that is not the one responsible for it (a succinct bin it does
    // not hash to) can lead to a role the snapshot does not have: it is simply not a target.
    if (!f && f.error().code == Errc::not_found) continue;
    if (!f) return f.error();
    if (*f) out.push_back(**f);
  }
  return out;
}

Result<std::string> Updater::download_target(const TargetFile& target, const std::string& cache_dir) {
  const auto what = "target " + target.path;
  if (target.length > static_cast<std::int64_t>(config_.limits.target_file_bytes)) {
    return make_error(Errc::invalid_input, what + ": " + std::to_string(target.length) + " bytes is over the limit of " +
                                               std::to_string(config_.limits.target_file_bytes));
  }
  std::string key;
  if (auto h = target.hashes.find("sha256"); h != target.hashes.end()) key = h->second;
  fs::path cached;
  if (!cache_dir.empty() && key.size() == 64 && key.find_first_not_of("0123456789abcdef") == std::string::npos) {
    cached = fs::path(cache_dir) / key;
    if (auto bytes = json_input::read_file_capped(cached.string(), config_.limits.target_file_bytes)) {
      if (check_hashes(*bytes, target.hashes, target.length, what, true)) return *bytes;
    }
  }
  // Segments are percent-encoded; ".." never leaves the targets base (mirrors are directories).
  // With consistent snapshots the file name is prefixed by its hash.
  std::vector<std::string> segments;
  for (std::size_t start = 0;;) {
    auto slash = target.path.find('/', start);
    segments.push_back(target.path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string rel;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& seg = segments[i];
    if (seg.empty() || seg == "." || seg == "..") {
      return make_error(Errc::invalid_input, what + ": path has an empty, \".\" or \"..\" segment");
    }
    if (i > 0) rel += "/";
    if (i + 1 == segments.size() && root_->consistent_snapshot) {
      rel += url_encode_segment(key.empty() ? target.hashes.begin()->second : key) + ".";
    }
    rel += url_encode_segment(seg);
  }
  auto fetched = get(join_url(config_.targets_url, rel), static_cast<std::size_t>(target.length));
  if (!fetched) return fetched.error();
  if (auto ok = check_hashes(fetched->body, target.hashes, target.length, what, true); !ok) return ok.error();
  if (!cached.empty()) {
    std::error_code ec;
    fs::create_directories(cache_dir, ec);
    try {
      if (auto w = write_file_atomically(cached.string(), fetched->body, 0644); !w) throw std::runtime_error(w.error().message);
    } catch (const std::exception&) {
      // The cache is an optimisation; the verified bytes are returned either way.
    }
  }
  return std::move(fetched->body);
}

}  // namespace mitigd::feed
