// libFuzzer target for the importers (untrusted rule files from other projects): YAML through
// libyaml and the CrowdSec mapping, and the SecRule reader. The first byte picks the format.
// A refusal is an answer; a crash, a leak or an exception of another kind is a bug.
#include "importers/crowdsec.hpp"
#include "importers/modsecurity.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  mitigd::importers::ManifestMeta meta;
  meta.product = "app";
  meta.fixed_in = "2.0";
  meta.id = data[0] & 1 ? "F1" : "";
  try {
    if (data[0] & 2) (void)mitigd::importers::import_crowdsec("fuzz.yaml", text, meta);
    else (void)mitigd::importers::import_modsecurity("fuzz.conf", text, meta);
  } catch (const mitigd::importers::Refused&) {
  }
  return 0;
}
