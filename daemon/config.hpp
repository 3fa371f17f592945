#pragma once
// mitigd's own configuration (/etc/mitigd/mitigd.json). Relative paths are resolved against the
// config file's directory. Format: docs/formats.md.
#include "feed/feed_source.hpp"
#include "policies/error.hpp"

#include <optional>

#include <string>

namespace mitigd {

struct Config {
  std::string file;
  std::string inventory;
  std::string policy_dir;
  std::string manifests_dir;  // a local directory of manifests (trusted as they are), or:
  std::optional<feed::FeedSettings> feed;  // the signed TUF feed
  std::string state_db = "/var/lib/mitigd/state.db";
  int poll_interval_seconds = 300;
  int drift_interval_seconds = 60;
  std::string metrics_listen = "127.0.0.1:9464";
  std::string control_socket = "/run/mitigd/control.sock";
  std::string control_group;  // members may trigger changes through the socket, besides root
};

Result<Config> load_config(const std::string& file);

}  // namespace mitigd
