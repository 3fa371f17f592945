#pragma once
// Manifest v1: one mitigation, as published in the feed. Format reference: docs/formats.md.
// Everything here is validated at load time, every pattern compiled with PCRE2; a manifest that
// loads can be compiled into any supported web server without further checks.
#include "policies/error.hpp"
#include "policies/pattern.hpp"
#include "policies/request_semantics.hpp"
#include "policies/time_util.hpp"
#include "policies/version.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mitigd {

enum class ActionKind { rewrite_rule, response_header, disable_service, disable_app_pool, disable_vdir };
const char* to_string(ActionKind kind);

enum class Transform { decode, lowercase, base64 };
enum class MatchOp { pattern, equals, contains, starts_with, ends_with, length };
const char* to_string(Transform t);
const char* to_string(MatchOp op);

struct Condition {
  RuleInput input;
  bool decode = false;                // transforms is exactly {decode}: what every engine can do
  std::vector<Transform> transforms;  // applied in order to each value of the input
  bool negate = false;
  MatchOp op = MatchOp::pattern;
  // The regex. For the literal and length operators, their exact regex equivalent, which the plain
  // nginx directives, Apache and the offline Apache model use; the nginx module runs the operator.
  Pattern pattern;
  std::string literal;                // equals, contains, starts_with, ends_with
  std::size_t min_length = 0, max_length = 0;  // length (bytes)
};

// Empty when every web engine can evaluate the condition; else why only the nginx module can.
std::string module_only_reason(const Condition& c);

struct RuleResponse {
  enum class Kind { abort, deny, status } kind = Kind::abort;
  int status = 444;  // abort: 444 (nginx drops the connection); deny: 403
};

struct RewriteRule {
  std::vector<Condition> when;
  RuleResponse respond;
  // Bodies (when a condition reads one): the first body_cap bytes are inspected; a longer body
  // passes on what was inspected, or makes the rule answer when oversize_block.
  std::size_t body_cap = 65536;
  bool oversize_block = false;
  bool reads_body() const;
};

// enforce: a matching request gets the rule's response; detect: it is let through, logged and
// counted (mitigd_rule_matches_total), so that a rule can be tried on live traffic first.
enum class RuleMode { enforce, detect };
const char* to_string(RuleMode mode);

struct ResponseHeaderEdit {
  Pattern content_type;
  std::string header;  // canonical spelling as written in the manifest
  enum class Mode { append, set } mode = Mode::append;
  std::string value;
};

struct DisableService {
  std::string service;  // logical name, bound to a unit by the inventory
  bool persistent = false;  // mask in /etc (survives reboot) instead of /run
};

struct DisableAppPool {
  std::string app_pool;
  int status = 503;
};

struct DisableVdir {
  std::string vdir;
  int status = 503;
};

struct Action {
  ActionKind kind = ActionKind::rewrite_rule;
  std::string name;                  // for people; defaults to "<kind> <n>"
  std::optional<std::string> scope;  // URL prefix ("/owa/") or the whole site
  std::optional<RuleMode> mode;      // rewrite_rule only; else the manifest's
  std::variant<RewriteRule, ResponseHeaderEdit, DisableService, DisableAppPool, DisableVdir> detail;
};

// The same for a whole rule: its conditions, and detect mode (only the module counts matches).
struct Manifest;
std::string rule_module_only_reason(const Manifest& m, const Action& a, const RewriteRule& rule);

struct Probe {
  HttpRequest request;
  enum class Expect { blocked, passed } expect = Expect::blocked;
};

struct AppliesTo {
  std::string product;
  VersionScheme scheme = VersionScheme::dotted;
  std::optional<std::string> min;
  std::optional<std::string> fixed_in;
  // A fix released on several branches (Confluence CVE-2022-26134: 7.4.17, 7.13.7, ... 7.18.1):
  // each branch covers [min, max), or up to the next branch's min when max is absent; an installed
  // version in a branch is fixed at or past that branch's fixed_in; a version outside every branch
  // (a release line that got no fix) is vulnerable. Sorted by min; excludes `fixed_in`.
  struct FixedBranch {
    std::string min, fixed_in;
    std::optional<std::string> max;
  };
  std::vector<FixedBranch> fixed;
};

struct Manifest {
  std::string id;
  std::int64_t revision = 0;
  std::string title;
  std::string description;
  std::vector<std::string> cves;
  std::string severity;
  AppliesTo applies_to;
  std::optional<SysSeconds> expires;
  RuleMode mode = RuleMode::enforce;  // of every rewrite_rule without its own (a policy may override)
  std::vector<Action> actions;
  std::vector<Probe> probes;
  RuleMode mode_of(const Action& a) const { return a.mode.value_or(mode); }
  std::string source;  // file or feed target it came from, for messages
};

// Parses and validates one manifest. `file` is used only in error messages.
Result<Manifest> parse_manifest(const std::string& file, std::string_view text);

// A manifest that was refused (does not parse or validate) with no earlier good revision to use.
struct InvalidManifest {
  std::string id;      // from the document if it could be read, else from the file or target name
  std::string source;  // file or feed path
  std::string error;
};
// The id a refused manifest claims (its "id" when that is a valid id), else the stem of `name`.
std::string guess_manifest_id(std::string_view text, const std::string& name);

// A list of test requests for `mitigctl rules test`: {"requests": [<probe>, ...]}, each item
// shaped like a manifest probe (request + expect).
Result<std::vector<Probe>> parse_request_list(const std::string& file, std::string_view text);

bool is_valid_mitigation_id(std::string_view id);

// A policy's rule mode for a mitigation ("detect" | "enforce") over its manifest's and its actions'.
void apply_rule_mode(Manifest& m, const std::string& mode);
// The characters we accept in names that may reach a config comment or a message.
std::string name_problem(std::string_view name, std::size_t max_bytes);
std::string scope_problem(std::string_view scope);
std::string header_name_problem(std::string_view name);
std::string header_value_problem(std::string_view value);

}  // namespace mitigd
