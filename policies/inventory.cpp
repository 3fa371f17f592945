#include "policies/inventory.hpp"

#include "policies/json_input.hpp"
#include "policies/limits.hpp"
#include "policies/manifest.hpp"

#include <filesystem>

namespace mitigd {
namespace json = boost::json;
namespace fs = std::filesystem;
using json_input::ObjectReader;
using json_input::fail_at;

const char* to_string(WebServerKind kind) { return kind == WebServerKind::nginx ? "nginx" : "apache"; }

std::string VersionSource::describe() const {
  switch (kind) {
    case Kind::file: return "file " + file;
    case Kind::command: {
      std::string s = "command";
      for (const auto& a : command) s += " " + a;
      return s;
    }
    case Kind::deb_package: return "Debian package " + package;
  }
  return "?";
}

namespace {

std::string resolve(const fs::path& base, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (base / p).lexically_normal().string();
}

std::vector<std::string> read_argv(ObjectReader& r, std::string_view key, const fs::path& base) {
  const auto& arr = json_input::as_array(r.required(key), r.file(), r.child_path(key), 64);
  if (arr.empty()) r.fail(key, "a non-empty argv array");
  std::vector<std::string> argv;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string a = json_input::as_string(arr[i], r.file(), json_input::index_path(r.child_path(key), i), 4096);
    if (!json_input::is_single_line(a)) fail_at(r.file(), json_input::index_path(r.child_path(key), i), "an argument on one line");
    argv.push_back(std::move(a));
  }
  // argv[0] relative to the inventory (a script shipped beside it) when it names a path.
  if (argv[0].find('/') != std::string::npos) argv[0] = resolve(base, argv[0]);
  return argv;
}

std::string logical_name(const std::string& file, const std::string& path, std::string_view name) {
  std::string problem = name_problem(name, 128);
  if (!problem.empty()) fail_at(file, path, problem);
  return std::string(name);
}

std::string unit_name(ObjectReader& r, std::string_view key) {
  std::string unit = r.string(key, 256);
  bool ok = !unit.empty() && unit.find('/') == std::string::npos && unit.find('.') != std::string::npos;
  for (char c : unit) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view(":-_.@\\").find(c) != std::string_view::npos)) ok = false;
  }
  if (!ok) r.fail(key, "a systemd unit name such as imap4.service");
  return unit;
}

Inventory parse_or_throw(const std::string& file, const json::value& doc) {
  fs::path base = fs::path(file).parent_path();
  ObjectReader r(doc, file, "");
  Inventory inv;
  inv.file = file;
  inv.host = r.string("host", 253);
  for (char c : inv.host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      r.fail("host", "a host name of letters, digits, '-', '.' and '_'");
    }
  }
  if (inv.host.empty()) r.fail("host", "a non-empty host name");

  if (const json::value* products = r.optional("products")) {
    const json::object* obj = products->if_object();
    if (!obj) r.fail("products", "an object of product name to version source");
    for (const auto& kv : *obj) {
      std::string path = json_input::key_path(r.child_path("products"), kv.key());
      Product p;
      p.name = logical_name(file, path, kv.key());
      ObjectReader pr(kv.value(), file, path);
      auto scheme = parse_version_scheme(pr.optional_string("scheme", 16).value_or("dotted"));
      if (!scheme) pr.fail("scheme", scheme.error().message);
      p.scheme = *scheme;
      ObjectReader vr(pr.required("version"), file, pr.child_path("version"));
      int kinds = 0;
      if (auto f = vr.optional_string("file", 4096)) {
        p.source.kind = VersionSource::Kind::file;
        p.source.file = resolve(base, *f);
        ++kinds;
      }
      if (vr.optional("command")) {
        p.source.kind = VersionSource::Kind::command;
        p.source.command = read_argv(vr, "command", base);
        ++kinds;
      }
      if (auto pkg = vr.optional_string("deb_package", 128)) {
        p.source.kind = VersionSource::Kind::deb_package;
        p.source.package = *pkg;
        if (auto status = vr.optional_string("dpkg_status", 4096)) p.source.dpkg_status = resolve(base, *status);
        ++kinds;
      } else {
        vr.optional("dpkg_status");
      }
      if (kinds != 1) vr.fail("file", "exactly one of \"file\", \"command\" or \"deb_package\"");
      vr.finish();
      pr.finish();
      inv.products.emplace(p.name, std::move(p));
    }
  }

  if (const json::value* web = r.optional("web_server")) {
    ObjectReader wr(*web, file, r.child_path("web_server"));
    WebServer w;
    std::string kind = wr.string("kind", 16);
    if (kind == "nginx") {
      w.kind = WebServerKind::nginx;
    } else if (kind == "apache") {
      w.kind = WebServerKind::apache;
    } else {
      wr.fail("kind", "\"nginx\" or \"apache\"");
    }
    w.server_include_dir = resolve(base, wr.string("server_include_dir", 4096));
    w.http_include_dir = resolve(base, wr.optional_string("http_include_dir", 4096).value_or(""));
    if (w.kind == WebServerKind::nginx && w.http_include_dir.empty()) {
      wr.fail("http_include_dir", "the directory included in nginx's http block (for maps)");
    }
    w.validate = read_argv(wr, "validate", base);
    w.reload = read_argv(wr, "reload", base);
    w.probe_url = wr.string("probe_url", 256);
    if (auto engine = wr.optional_string("rules_engine", 16)) {
      if (*engine == "module" && w.kind == WebServerKind::nginx) {
        w.rules_engine = RulesEngine::module;
      } else if (*engine != "config") {
        wr.fail("rules_engine", w.kind == WebServerKind::nginx ? "\"config\" or \"module\"" : "\"config\" (Apache)");
      }
    }
    if (!w.probe_url.starts_with("http://")) wr.fail("probe_url", "an http:// URL of the local listener");
    // The web server's own configuration, watched so that an operator's fix is seen at once.
    // Default: two levels above the server include dir (/etc/nginx for /etc/nginx/mitigd/server).
    if (auto root = wr.optional_string("config_root", 4096)) {
      w.config_root = resolve(base, *root);
    } else {
      w.config_root = std::filesystem::path(w.server_include_dir).parent_path().parent_path().string();
    }
    wr.finish();
    inv.web_server = std::move(w);
  }

  auto read_units = [&](std::string_view key, std::map<std::string, std::string>& out) {
    const json::value* v = r.optional(key);
    if (!v) return;
    const json::object* obj = v->if_object();
    if (!obj) r.fail(key, "an object of logical name to {\"unit\": ...}");
    if (obj->size() > limits::kInventoryEntries) r.fail(key, "at most 1000 entries");
    for (const auto& kv : *obj) {
      std::string path = json_input::key_path(r.child_path(key), kv.key());
      std::string name = logical_name(file, path, kv.key());
      ObjectReader ur(kv.value(), file, path);
      out.emplace(name, unit_name(ur, "unit"));
      ur.finish();
    }
  };
  read_units("services", inv.services);
  read_units("app_pools", inv.app_pools);

  if (const json::value* v = r.optional("vdirs")) {
    const json::object* obj = v->if_object();
    if (!obj) r.fail("vdirs", "an object of logical name to {\"prefix\": ..., \"app_pool\": ...}");
    for (const auto& kv : *obj) {
      std::string path = json_input::key_path(r.child_path("vdirs"), kv.key());
      VirtualDirectory d;
      d.name = logical_name(file, path, kv.key());
      ObjectReader dr(kv.value(), file, path);
      d.prefix = dr.string("prefix", 256);
      if (std::string p = scope_problem(d.prefix); !p.empty()) dr.fail("prefix", p);
      d.app_pool = dr.optional_string("app_pool", 128).value_or("");
      if (!d.app_pool.empty() && !inv.app_pools.contains(d.app_pool)) {
        dr.fail("app_pool", "the name of an app pool declared in app_pools");
      }
      dr.finish();
      inv.vdirs.emplace(d.name, std::move(d));
    }
  }
  if (const json::value* v = r.optional("systemd")) {
    ObjectReader sr(*v, file, r.child_path("systemd"));
    inv.systemd_bus = sr.optional_string("bus", 4096).value_or("");
    if (!inv.systemd_bus.empty() && !inv.systemd_bus.starts_with("unix:")) {
      sr.fail("bus", "an sd-bus address such as unix:path=/run/dbus/system_bus_socket");
    }
    sr.finish();
  }
  r.finish();
  return inv;
}

}  // namespace

Result<Inventory> parse_inventory(const std::string& file, std::string_view text) {
  auto doc = json_input::parse(file, text);
  if (!doc) return doc.error();
  try {
    return parse_or_throw(file, *doc);
  } catch (const json_input::SchemaError& e) {
    return make_error(Errc::invalid_input, e.message());
  }
}

Result<Inventory> load_inventory(const std::string& file) {
  auto text = json_input::read_file_capped(file, limits::kInventoryBytes);
  if (!text) return text.error();
  std::error_code ec;
  std::string absolute = fs::absolute(file, ec).lexically_normal().string();
  return parse_inventory(ec ? file : absolute, *text);
}

}  // namespace mitigd
