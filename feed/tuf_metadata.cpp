#include "feed/tuf_metadata.hpp"

#include "policies/json_duplicates.hpp"

#include "feed/canonical_json.hpp"

#include <boost/json/parse.hpp>
#include <cstdio>
#include <set>

namespace mitigd::feed {
namespace {

constexpr std::size_t kMaxSignatures = 64;
constexpr std::size_t kMaxKeys = 256;
constexpr std::size_t kMaxRoleKeyids = 64;
constexpr std::size_t kMaxDelegatedRoles = 256;
constexpr std::size_t kMaxTargets = 200000;
constexpr std::size_t kMaxPaths = 256;

struct Bad {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& path, const std::string& expected) {
  throw Bad{where + ": " + path + ": " + expected};
}

const boost::json::object& obj_at(const boost::json::value& v, const std::string& where, const std::string& path) {
  if (!v.is_object()) fail(where, path, "expected an object");
  return v.get_object();
}

const boost::json::value& field(const boost::json::object& o, std::string_view key, const std::string& where,
                                const std::string& path) {
  const auto* v = o.if_contains(key);
  if (!v) fail(where, path + "." + std::string(key), "required field is missing");
  return *v;
}

std::string str(const boost::json::value& v, const std::string& where, const std::string& path,
                std::size_t max = 4096) {
  if (!v.is_string()) fail(where, path, "expected a string");
  if (v.get_string().size() > max) fail(where, path, "longer than " + std::to_string(max) + " bytes");
  return std::string(v.get_string());
}

std::int64_t integer(const boost::json::value& v, const std::string& where, const std::string& path,
                     std::int64_t min) {
  if (!v.is_int64() && !v.is_uint64()) fail(where, path, "expected an integer");
  if (v.is_uint64() && v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) fail(where, path, "integer too large");
  std::int64_t n = v.is_int64() ? v.get_int64() : static_cast<std::int64_t>(v.get_uint64());
  if (n < min) fail(where, path, "expected an integer >= " + std::to_string(min));
  return n;
}

bool boolean(const boost::json::value& v, const std::string& where, const std::string& path) {
  if (!v.is_bool()) fail(where, path, "expected true or false");
  return v.get_bool();
}

void read_common(const boost::json::object& s, const Envelope& e, Common& c) {
  c.spec_version = str(field(s, "spec_version", e.where, "signed"), e.where, "signed.spec_version", 64);
  // Major version 1: "1", "1.0", "1.0.31"...
  if (!(c.spec_version == "1" || c.spec_version.rfind("1.", 0) == 0)) {
    fail(e.where, "signed.spec_version", "unsupported specification version \"" + c.spec_version + "\" (expected 1.x)");
  }
  c.version = integer(field(s, "version", e.where, "signed"), e.where, "signed.version", 1);
  auto expires = str(field(s, "expires", e.where, "signed"), e.where, "signed.expires", 64);
  auto t = parse_utc_timestamp(expires);
  if (!t) fail(e.where, "signed.expires", "expected a UTC time like 2030-01-01T00:00:00Z, got \"" + expires + "\"");
  c.expires = *t;
}

std::map<std::string, std::string> read_hashes(const boost::json::value& v, const std::string& where,
                                               const std::string& path) {
  std::map<std::string, std::string> out;
  const auto& o = obj_at(v, where, path);
  if (o.empty() || o.size() > 8) fail(where, path, "expected 1 to 8 hashes");
  for (const auto& kv : o) out[std::string(kv.key())] = str(kv.value(), where, path + "." + std::string(kv.key()), 256);
  return out;
}

MetaFile read_meta_file(const boost::json::value& v, const std::string& where, const std::string& path) {
  const auto& o = obj_at(v, where, path);
  MetaFile m;
  m.version = integer(field(o, "version", where, path), where, path + ".version", 1);
  if (const auto* l = o.if_contains("length")) m.length = integer(*l, where, path + ".length", 0);
  if (const auto* h = o.if_contains("hashes")) m.hashes = read_hashes(*h, where, path + ".hashes");
  return m;
}

std::map<std::string, PublicKey> read_keys(const boost::json::value& v, const std::string& where,
                                           const std::string& path) {
  const auto& o = obj_at(v, where, path);
  if (o.size() > kMaxKeys) fail(where, path, "more than " + std::to_string(kMaxKeys) + " keys");
  std::map<std::string, PublicKey> keys;
  for (const auto& kv : o) {
    std::string id(kv.key());
    // A key of a type or scheme this client does not support cannot sign for it, but it does not
    // make the metadata invalid (other clients may use it): it is left out, and thresholds are
    // met by the keys that remain, or not at all.
    auto k = PublicKey::from_json(kv.value(), where + ": " + path + "." + id);
    if (k) keys.emplace(id, std::move(*k));
  }
  return keys;
}

RoleKeys read_role_keys(const boost::json::object& o, const std::string& where, const std::string& path) {
  RoleKeys r;
  const auto& ids = field(o, "keyids", where, path);
  if (!ids.is_array() || ids.get_array().size() > kMaxRoleKeyids) fail(where, path + ".keyids", "expected an array of key ids");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < ids.get_array().size(); ++i) {
    auto id = str(ids.get_array()[i], where, path + ".keyids[" + std::to_string(i) + "]", 256);
    if (!seen.insert(id).second) fail(where, path + ".keyids", "key id " + id + " listed twice");
    r.keyids.push_back(id);
  }
  r.threshold = integer(field(o, "threshold", where, path), where, path + ".threshold", 1);
  return r;
}

template <class Fn>
auto guarded(Fn&& fn) -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (const Bad& b) {
    return make_error(Errc::invalid_input, b.message);
  }
}

bool glob_segment(std::string_view pat, std::string_view s) {
  // Iterative wildcard match with backtracking on the last '*'.
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  auto match_one = [&](std::size_t& pp, char c) -> bool {
    if (pat[pp] == '?') { ++pp; return true; }
    if (pat[pp] == '[') {
      std::size_t q = pp + 1;
      bool negate = q < pat.size() && (pat[q] == '!' || pat[q] == '^');
      if (negate) ++q;
      bool found = false;
      std::size_t start = q;
      while (q < pat.size() && (pat[q] != ']' || q == start)) {
        if (q + 2 < pat.size() && pat[q + 1] == '-' && pat[q + 2] != ']') {
          if (c >= pat[q] && c <= pat[q + 2]) found = true;
          q += 3;
        } else {
          if (pat[q] == c) found = true;
          ++q;
        }
      }
      if (q >= pat.size()) {  // no closing bracket: a literal '['
        if (c != '[') return false;
        ++pp;
        return true;
      }
      pp = q + 1;
      return found != negate;
    }
    if (pat[pp] == c) { ++pp; return true; }
    return false;
  };
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
      continue;
    }
    std::size_t pp = p;
    if (p < pat.size() && match_one(pp, s[i])) {
      p = pp;
      ++i;
      continue;
    }
    if (star == std::string_view::npos) return false;
    p = star + 1;
    i = ++mark;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

}  // namespace

bool path_pattern_matches(std::string_view pattern, std::string_view path) {
  auto split = [](std::string_view s) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
      auto slash = s.find('/', start);
      parts.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    return parts;
  };
  auto pp = split(pattern), tp = split(path);
  if (pp.size() != tp.size()) return false;
  for (std::size_t i = 0; i < pp.size(); ++i) {
    if (!glob_segment(pp[i], tp[i])) return false;
  }
  return true;
}

std::string SuccinctRoles::role_for(std::string_view target_path) const {
  // The bin is the first bit_length bits of sha256(path); its name carries the bin number in hex,
  // zero-padded to as many digits as the largest bin needs.
  auto hex = sha256_hex(target_path);
  std::uint32_t first = static_cast<std::uint32_t>(std::stoul(hex.substr(0, 8), nullptr, 16));
  std::uint32_t bin = bit_length == 32 ? first : first >> (32 - bit_length);
  int digits = (bit_length + 3) / 4;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, bin);
  return name_prefix + "-" + buf;
}

bool SuccinctRoles::is_bin(std::string_view role_name) const {
  if (role_name.size() != name_prefix.size() + 1 + static_cast<std::size_t>((bit_length + 3) / 4)) return false;
  if (role_name.substr(0, name_prefix.size()) != name_prefix || role_name[name_prefix.size()] != '-') return false;
  auto digits = role_name.substr(name_prefix.size() + 1);
  if (digits.find_first_not_of("0123456789abcdef") != std::string_view::npos) return false;
  auto n = std::stoull(std::string(digits), nullptr, 16);
  return bit_length == 32 || n < (1ull << bit_length);
}

bool DelegatedRole::matches(std::string_view target_path) const {
  for (const auto& p : paths) {
    if (path_pattern_matches(p, target_path)) return true;
  }
  if (!path_hash_prefixes.empty()) {
    auto h = sha256_hex(target_path);
    for (const auto& prefix : path_hash_prefixes) {
      if (h.rfind(prefix, 0) == 0) return true;
    }
  }
  return false;
}

Result<Envelope> parse_envelope(std::string_view raw, const std::string& where, std::string_view expected_type) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 32;
  auto doc = boost::json::parse(raw, ec, {}, opts);
  if (ec) return make_error(Errc::invalid_input, where + ": not valid JSON (" + ec.message() + ")");
  // Signed bytes that say two things (a key twice) are refused: the signer and mitigd might read
  // different values.
  if (auto dup = json_input::find_duplicate_key(raw)) {
    return make_error(Errc::invalid_input, where + ": line " + std::to_string(dup->line) + ": " +
                                               (dup->path.empty() ? std::string("(top)") : dup->path) + ": key \"" +
                                               dup->key + "\" appears twice");
  }
  return guarded([&]() -> Envelope {
    Envelope e;
    e.where = where;
    const auto& top = obj_at(doc, where, "(top)");
    const auto& sigs = field(top, "signatures", where, "(top)");
    if (!sigs.is_array()) fail(where, "signatures", "expected an array");
    if (sigs.get_array().size() > kMaxSignatures) fail(where, "signatures", "more than " + std::to_string(kMaxSignatures));
    std::set<std::string> keyids;
    for (std::size_t i = 0; i < sigs.get_array().size(); ++i) {
      auto path = "signatures[" + std::to_string(i) + "]";
      const auto& s = obj_at(sigs.get_array()[i], where, path);
      e.signatures.emplace_back(str(field(s, "keyid", where, path), where, path + ".keyid", 256),
                                str(field(s, "sig", where, path), where, path + ".sig", 4096));
      // The specification: each keyid appears once. (Counted once anyway, but refused.)
      if (!keyids.insert(e.signatures.back().first).second) {
        fail(where, path + ".keyid", "each key's signature once (" + e.signatures.back().first + " signs twice)");
      }
    }
    e.signed_value = field(top, "signed", where, "(top)");
    const auto& s = obj_at(e.signed_value, where, "signed");
    e.type = str(field(s, "_type", where, "signed"), where, "signed._type", 64);
    if (e.type != expected_type) {
      fail(where, "signed._type", "expected \"" + std::string(expected_type) + "\", got \"" + e.type + "\"");
    }
    auto canon = canonical_json(e.signed_value);
    if (!canon) fail(where, "signed", canon.error().message);
    e.canonical = std::move(*canon);
    return e;
  });
}

Result<void> verify_threshold(const Envelope& e, const std::map<std::string, PublicKey>& keys, const RoleKeys& role,
                              const std::string& role_name) {
  std::set<std::string> role_ids(role.keyids.begin(), role.keyids.end());
  std::set<std::string> counted_material;
  for (const auto& [keyid, sig] : e.signatures) {
    if (!role_ids.count(keyid)) continue;
    auto k = keys.find(keyid);
    if (k == keys.end()) continue;
    if (counted_material.count(k->second.material())) continue;  // duplicate signature or duplicate key
    if (k->second.verify(e.canonical, sig)) counted_material.insert(k->second.material());
  }
  if (static_cast<std::int64_t>(counted_material.size()) < role.threshold) {
    return make_error(Errc::invalid_input, e.where + ": " + std::to_string(counted_material.size()) +
                                               " valid signature(s) from the " + role_name +
                                               " role's keys, threshold is " + std::to_string(role.threshold));
  }
  return {};
}

Result<Root> parse_root(const Envelope& e) {
  return guarded([&]() -> Root {
    const auto& s = e.signed_value.get_object();
    Root r;
    read_common(s, e, r);
    r.consistent_snapshot = boolean(field(s, "consistent_snapshot", e.where, "signed"), e.where,
                                    "signed.consistent_snapshot");
    r.keys = read_keys(field(s, "keys", e.where, "signed"), e.where, "signed.keys");
    const auto& roles = obj_at(field(s, "roles", e.where, "signed"), e.where, "signed.roles");
    for (const char* name : {"root", "timestamp", "snapshot", "targets"}) {
      auto path = std::string("signed.roles.") + name;
      r.roles[name] = read_role_keys(obj_at(field(roles, name, e.where, "signed.roles"), e.where, path), e.where, path);
    }
    return r;
  });
}

Result<Timestamp> parse_timestamp(const Envelope& e) {
  return guarded([&]() -> Timestamp {
    const auto& s = e.signed_value.get_object();
    Timestamp t;
    read_common(s, e, t);
    const auto& meta = obj_at(field(s, "meta", e.where, "signed"), e.where, "signed.meta");
    t.snapshot = read_meta_file(field(meta, "snapshot.json", e.where, "signed.meta"), e.where,
                                "signed.meta.snapshot.json");
    return t;
  });
}

Result<Snapshot> parse_snapshot(const Envelope& e) {
  return guarded([&]() -> Snapshot {
    const auto& s = e.signed_value.get_object();
    Snapshot snap;
    read_common(s, e, snap);
    const auto& meta = obj_at(field(s, "meta", e.where, "signed"), e.where, "signed.meta");
    if (meta.size() > kMaxDelegatedRoles + 1) fail(e.where, "signed.meta", "too many entries");
    for (const auto& kv : meta) {
      snap.meta[std::string(kv.key())] = read_meta_file(kv.value(), e.where, "signed.meta." + std::string(kv.key()));
    }
    if (!snap.meta.count("targets.json")) fail(e.where, "signed.meta.targets.json", "required field is missing");
    return snap;
  });
}

Result<Targets> parse_targets(const Envelope& e) {
  return guarded([&]() -> Targets {
    const auto& s = e.signed_value.get_object();
    Targets t;
    read_common(s, e, t);
    const auto& targets = obj_at(field(s, "targets", e.where, "signed"), e.where, "signed.targets");
    if (targets.size() > kMaxTargets) fail(e.where, "signed.targets", "too many targets");
    for (const auto& kv : targets) {
      std::string path(kv.key());
      auto where_path = "signed.targets." + path;
      const auto& o = obj_at(kv.value(), e.where, where_path);
      TargetFile f;
      f.path = path;
      f.length = integer(field(o, "length", e.where, where_path), e.where, where_path + ".length", 0);
      f.hashes = read_hashes(field(o, "hashes", e.where, where_path), e.where, where_path + ".hashes");
      t.targets.emplace(path, std::move(f));
    }
    if (const auto* d = s.if_contains("delegations")) {
      const auto& dobj = obj_at(*d, e.where, "signed.delegations");
      Delegations del;
      del.keys = read_keys(field(dobj, "keys", e.where, "signed.delegations"), e.where, "signed.delegations.keys");
      const auto* succinct = dobj.if_contains("succinct_roles");
      if ((succinct != nullptr) == (dobj.if_contains("roles") != nullptr)) {
        fail(e.where, "signed.delegations", "exactly one of roles and succinct_roles is required");
      }
      if (succinct) {
        const std::string path = "signed.delegations.succinct_roles";
        const auto& so = obj_at(*succinct, e.where, path);
        SuccinctRoles sr;
        sr.keys = read_role_keys(so, e.where, path);
        sr.bit_length = static_cast<int>(integer(field(so, "bit_length", e.where, path), e.where, path + ".bit_length", 1));
        if (sr.bit_length > 32) fail(e.where, path + ".bit_length", "expected 1 to 32");
        sr.name_prefix = str(field(so, "name_prefix", e.where, path), e.where, path + ".name_prefix", 200);
        if (sr.name_prefix.empty() || sr.name_prefix.find_first_of("/\\") != std::string::npos || sr.name_prefix[0] == '.') {
          fail(e.where, path + ".name_prefix", "\"" + sr.name_prefix + "\" is not a usable role name prefix");
        }
        del.succinct = std::move(sr);
        t.delegations = std::move(del);
        return t;
      }
      const auto& roles = field(dobj, "roles", e.where, "signed.delegations");
      if (!roles.is_array() || roles.get_array().size() > kMaxDelegatedRoles) {
        fail(e.where, "signed.delegations.roles", "expected an array of at most " + std::to_string(kMaxDelegatedRoles));
      }
      std::set<std::string> names;
      for (std::size_t i = 0; i < roles.get_array().size(); ++i) {
        auto path = "signed.delegations.roles[" + std::to_string(i) + "]";
        const auto& ro = obj_at(roles.get_array()[i], e.where, path);
        DelegatedRole r;
        r.name = str(field(ro, "name", e.where, path), e.where, path + ".name", 255);
        // Any other name is usable: it is percent-encoded wherever it becomes a URL or a file name
        // ('/', '.' and '..' included), so it can never name a path outside the metadata dir.
        if (r.name.empty() || r.name == "root" || r.name == "timestamp" || r.name == "snapshot" || r.name == "targets") {
          fail(e.where, path + ".name", "\"" + r.name + "\" is not a usable delegated role name");
        }
        if (!names.insert(r.name).second) fail(e.where, path + ".name", "role " + r.name + " delegated twice");
        r.keys = read_role_keys(ro, e.where, path);
        r.terminating = boolean(field(ro, "terminating", e.where, path), e.where, path + ".terminating");
        const auto* paths = ro.if_contains("paths");
        const auto* prefixes = ro.if_contains("path_hash_prefixes");
        if ((paths != nullptr) == (prefixes != nullptr)) {
          fail(e.where, path, "exactly one of paths and path_hash_prefixes is required");
        }
        const auto* list = paths ? paths : prefixes;
        if (!list->is_array() || list->get_array().size() > kMaxPaths) fail(e.where, path, "expected an array of patterns");
        for (const auto& p : list->get_array()) {
          (paths ? r.paths : r.path_hash_prefixes).push_back(str(p, e.where, path + (paths ? ".paths" : ".path_hash_prefixes"), 1024));
        }
        del.roles.push_back(std::move(r));
      }
      t.delegations = std::move(del);
    }
    return t;
  });
}

Result<void> check_hashes(std::string_view bytes, const std::map<std::string, std::string>& hashes,
                          std::optional<std::int64_t> length, const std::string& what, bool require_hash) {
  if (length && static_cast<std::int64_t>(bytes.size()) != *length) {
    return make_error(Errc::invalid_input, what + ": length " + std::to_string(bytes.size()) +
                                               " differs from the trusted length " + std::to_string(*length));
  }
  bool checked = false;
  for (const auto& [algo, expected] : hashes) {
    std::string actual;
    if (algo == "sha256") actual = sha256_hex(bytes);
    else if (algo == "sha512") actual = sha512_hex(bytes);
    else continue;
    checked = true;
    std::string lower = expected;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (actual != lower) return make_error(Errc::invalid_input, what + ": " + algo + " does not match the trusted hash");
  }
  if (require_hash && !checked) {
    return make_error(Errc::invalid_input, what + ": no sha256 or sha512 hash in the trusted metadata");
  }
  return {};
}

}  // namespace mitigd::feed
