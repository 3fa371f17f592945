#include "daemon/config.hpp"

#include "policies/json_input.hpp"

#include <filesystem>

namespace mitigd {
namespace fs = std::filesystem;

Result<Config> load_config(const std::string& file) {
  auto text = json_input::read_file_capped(file, 64 * 1024);
  if (!text) return text.error();
  auto doc = json_input::parse(file, *text);
  if (!doc) return doc.error();
  std::error_code ec;
  fs::path base = fs::absolute(file, ec).parent_path();
  auto resolve = [&](const std::string& p) {
    return p.empty() || fs::path(p).is_absolute() ? p : (base / p).lexically_normal().string();
  };
  try {
    json_input::ObjectReader r(*doc, file, "");
    Config c;
    c.file = file;
    c.inventory = resolve(r.string("inventory", 4096));
    c.policy_dir = resolve(r.string("policy_dir", 4096));
    c.manifests_dir = resolve(r.optional_string("manifests_dir", 4096).value_or(""));
    if (const auto* f = r.optional("feed")) {
      json_input::ObjectReader fr(*f, file, "feed",
                                  {"metadata_url", "targets_url", "trusted_root", "cache_dir", "proxy", "ca_file",
                                   "timeout_seconds"});
      feed::FeedSettings s;
      s.metadata_url = fr.string("metadata_url", 4096);
      s.targets_url = fr.string("targets_url", 4096);
      for (std::string* u : {&s.metadata_url, &s.targets_url}) {
        auto parsed = feed::parse_url(*u);
        if (!parsed) fr.fail(u == &s.metadata_url ? "metadata_url" : "targets_url", "an http://, https:// or file:// URL (" + parsed.error().message + ")");
        if (parsed->scheme == "file") *u = "file://" + resolve(parsed->target);
        if (u->back() != '/') *u += "/";
      }
      s.trusted_root = resolve(fr.string("trusted_root", 4096));
      s.cache_dir = resolve(fr.optional_string("cache_dir", 4096).value_or(""));
      s.http.proxy = fr.optional_string("proxy", 4096).value_or("");
      if (!s.http.proxy.empty()) {
        auto parsed = feed::parse_url(s.http.proxy);
        if (!parsed || parsed->scheme != "http") fr.fail("proxy", "an http:// proxy URL such as http://proxy.example:3128");
      }
      s.http.ca_file = resolve(fr.optional_string("ca_file", 4096).value_or(""));
      if (fr.optional("timeout_seconds")) s.http.timeout = std::chrono::seconds(fr.integer("timeout_seconds", 1, 600));
      fr.finish();
      c.feed = std::move(s);
    }
    if (c.manifests_dir.empty() == !c.feed) {
      r.fail("feed", "exactly one of \"feed\" (the signed TUF feed) and \"manifests_dir\" (a local directory)");
    }
    c.state_db = resolve(r.optional_string("state_db", 4096).value_or(c.state_db));
    if (r.optional("poll_interval_seconds")) c.poll_interval_seconds = static_cast<int>(r.integer("poll_interval_seconds", 1, 86400));
    if (r.optional("drift_interval_seconds")) c.drift_interval_seconds = static_cast<int>(r.integer("drift_interval_seconds", 1, 86400));
    c.metrics_listen = r.optional_string("metrics_listen", 64).value_or(c.metrics_listen);
    if (!c.metrics_listen.empty() && !c.metrics_listen.starts_with("127.") && !c.metrics_listen.starts_with("[::1]")) {
      r.fail("metrics_listen", "a loopback address such as 127.0.0.1:9464 (or \"\" to turn metrics off)");
    }
    c.control_socket = resolve(r.optional_string("control_socket", 4096).value_or(c.control_socket));
    c.control_group = r.optional_string("control_group", 64).value_or("");
    r.finish();
    if (c.feed && c.feed->cache_dir.empty()) {
      c.feed->cache_dir = (fs::path(c.state_db).parent_path() / "feed-targets").string();
    }
    return c;
  } catch (const json_input::SchemaError& e) {
    return make_error(Errc::invalid_input, e.message());
  }
}

}  // namespace mitigd
