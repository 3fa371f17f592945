#pragma once
// Compiles the web actions of a manifest (rewrite_rule, response_header, disable_vdir and the
// web half of disable_app_pool) into web-server configuration. Pure: text in, text out.
// Every generated file starts with the marker line
//   # mitigd-managed id=M1 revision=4 sha256=<hex of the rest of the file>
// so observe can tell our files from the operators' and detect hand edits.
// Semantics and the choices behind them: docs/rules.md.
#include "policies/inventory.hpp"
#include "policies/manifest.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mitigd::web {

enum class Context { http, server };

struct RenderedFile {
  Context context = Context::server;
  std::string name;  // file name inside the include dir
  std::string text;  // full content, marker line first
};

// The files for `actions` (indices into m.actions; non-web actions are ignored).
Result<std::vector<RenderedFile>> render(WebServerKind server, const Manifest& m,
                                         const std::vector<std::size_t>& actions, const Inventory& inventory);

// Shared definitions every mitigation file relies on (nginx: the decoded request URI;
// apache: the unescape map). Present while any mitigation file is.
// `generation` is a random token: the prelude answers 204 to a loopback request for
// /.well-known/mitigd/generation/<token>, which tells the driver that the config holding it serves.
std::vector<RenderedFile> render_prelude(WebServerKind server, const std::string& generation,
                                         RulesEngine engine = RulesEngine::config);
std::string generation_path(const std::string& generation);
// The token of a prelude's text; empty when there is none.
std::string generation_of(const std::string& prelude_text);

bool is_web_action(ActionKind kind);
std::string file_name_for(const std::string& mitigation_id);
inline constexpr const char* kPreludeName = "mitigd-00-prelude.conf";

struct Marker {
  std::string id;
  std::int64_t revision = 0;
  std::string sha256;
  bool body_matches = false;  // the body still hashes to sha256
};
// Parses the marker of a file's text; nullopt when the file is not ours.
std::optional<Marker> read_marker(const std::string& text);
std::string with_marker(const std::string& id, std::int64_t revision, const std::string& body);

// Quoted config string: backslash and double quote escaped (nginx unescapes \\ and \").
std::string nginx_quote(const std::string& s);

}  // namespace mitigd::web
