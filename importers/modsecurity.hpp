#pragma once
// `mitigctl import modsecurity`: SecRule lines (with chains) of the subset that maps exactly onto
// mitigd's rule model, as one manifest (each top-level SecRule and its chain becomes one or more
// actions); every other construct is refused by name. Mapping and refusals: docs/importers.md.
#include "importers/import_model.hpp"

#include <string>
#include <string_view>

namespace mitigd::importers {

std::string import_modsecurity(const std::string& file, std::string_view text, ManifestMeta meta);

}  // namespace mitigd::importers
