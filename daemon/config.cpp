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
    c.manifests_dir = resolve(r.string("manifests_dir", 4096));
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
    return c;
  } catch (const json_input::SchemaError& e) {
    return make_error(Errc::invalid_input, e.message());
  }
}

}  // namespace mitigd
