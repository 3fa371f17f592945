// libFuzzer target for the untrusted-input parsers: manifest, policy file, inventory and TUF
// metadata (envelope, canonical JSON, every role's parser, signature check), the control protocol's
// request line, the duplicate-key scanner and the exponential-pattern check.
// The first byte picks the parser. Built by scripts/fuzz.sh with clang -fsanitize=fuzzer,address.
#include "feed/tuf_metadata.hpp"
#include "policies/inventory.hpp"
#include "policies/manifest.hpp"
#include "policies/policy.hpp"
#include "policies/rule_eval.hpp"
#include "policies/json_duplicates.hpp"
#include "daemon/control_protocol.hpp"
#include "policies/pattern.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto m = mitigd::parse_manifest("fuzz.json", text);
      // A manifest that loads must be evaluable on any request without crashing.
      if (m) (void)mitigd::evaluate_request(*m, {"GET", "/autodiscover/autodiscover.json?%50owershell", {{"Cookie", "a=b"}}});
      break;
    }
    case 1: (void)mitigd::parse_policy_file("fuzz.json", text); break;
    case 4: {
      // The control socket's request line (a local user's bytes) and the duplicate-key scanner.
      (void)mitigd::parse_control_request(std::string(text));
      (void)mitigd::json_input::find_duplicate_key(text);
      break;
    }
    case 5: (void)mitigd::exponential_problem(text); break;
    case 2: (void)mitigd::parse_inventory("/tmp/fuzz.json", text); break;
    case 3: {
      using namespace mitigd::feed;
      for (const char* type : {"root", "timestamp", "snapshot", "targets"}) {
        auto e = parse_envelope(text, "fuzz.json", type);
        if (!e) continue;
        if (e->type == "root") {
          if (auto r = parse_root(*e)) (void)verify_threshold(*e, r->keys, r->roles.at("root"), "root");
        } else if (e->type == "timestamp") {
          (void)parse_timestamp(*e);
        } else if (e->type == "snapshot") {
          (void)parse_snapshot(*e);
        } else if (auto t = parse_targets(*e); t && t->delegations) {
          for (const auto& role : t->delegations->roles) (void)role.matches("mitigations/M1.json");
        }
      }
      break;
    }
  }
  return 0;
}
