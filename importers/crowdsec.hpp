#pragma once
// `mitigctl import crowdsec`: one rule file of CrowdSec's AppSec format (YAML: name, description,
// rules with zones, variables, transform, match, and/or) as a mitigd manifest, or a refusal naming
// the construct mitigd cannot express exactly. Mapping and refusals: docs/importers.md.
#include "importers/import_model.hpp"

#include <string>
#include <string_view>

namespace mitigd::importers {

// meta.product and meta.fixed_in come from the operator; an empty meta.id is derived from the rule's
// name, an empty title from its description; CVE ids are read from name, description and labels.
std::string import_crowdsec(const std::string& file, std::string_view text, ManifestMeta meta);

}  // namespace mitigd::importers
