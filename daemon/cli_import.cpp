// mitigctl import crowdsec|modsecurity FILE: a foreign virtual patch as a mitigd manifest.
#include "daemon/cli_common.hpp"
#include "importers/crowdsec.hpp"
#include "importers/modsecurity.hpp"
#include "policies/json_input.hpp"

#include <iostream>

namespace mitigd {

int cmd_import(Cli&, const Args& args) {
  const auto& pos = args.positional();
  if (pos.size() != 2 || (pos[0] != "crowdsec" && pos[0] != "modsecurity")) {
    throw UsageError("import crowdsec|modsecurity FILE --product NAME --fixed-in VERSION [--id ID] [--min VERSION]");
  }
  auto product = args.value("--product"), fixed_in = args.value("--fixed-in");
  if (!product || !fixed_in) throw UsageError("import needs --product and --fixed-in: which software the rule protects, and "
                                              "the release whose installation reverts it");
  auto text = json_input::read_file_capped(pos[1], 4 * 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  importers::ManifestMeta meta;
  meta.product = *product;
  meta.fixed_in = *fixed_in;
  meta.min = args.value("--min").value_or("");
  meta.id = args.value("--id").value_or("");
  meta.title = args.value("--title").value_or("");
  if (args.flag("--detect")) meta.mode = "detect";
  try {
    std::string manifest = pos[0] == "crowdsec" ? importers::import_crowdsec(pos[1], *text, meta)
                                                : importers::import_modsecurity(pos[1], *text, meta);
    std::cout << manifest << "\n";
    return 0;
  } catch (const importers::Refused& e) {
    std::cerr << "mitigctl import: refused, nothing written: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace mitigd
