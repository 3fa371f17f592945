#pragma once
// Hard limits on untrusted input. Documented in docs/formats.md; change both together.
#include <cstddef>

namespace mitigd::limits {
inline constexpr std::size_t kManifestBytes = 256 * 1024;
inline constexpr std::size_t kPolicyFileBytes = 1024 * 1024;
inline constexpr std::size_t kInventoryBytes = 256 * 1024;
inline constexpr std::size_t kJsonDepth = 16;
inline constexpr std::size_t kManifests = 200000;
inline constexpr std::size_t kActions = 32;
inline constexpr std::size_t kConditions = 16;
inline constexpr std::size_t kProbes = 32;
inline constexpr std::size_t kProbeHeaders = 32;
inline constexpr std::size_t kCves = 64;
inline constexpr std::size_t kPatternBytes = 4096;
// What a pattern may take once quoted for a web server config (each backslash written twice):
// nginx refuses a parameter of 4,096 bytes or more, and mitigd adds its limits, (?s) and a group
// (about 55 bytes) around the pattern.
inline constexpr std::size_t kPatternQuotedBytes = 4000;
inline constexpr std::size_t kTitleBytes = 512;
inline constexpr std::size_t kDescriptionBytes = 16384;
inline constexpr std::size_t kNameBytes = 128;
inline constexpr std::size_t kHeaderValueBytes = 1024;
inline constexpr std::size_t kTargetBytes = 4096;
inline constexpr std::size_t kProbeBodyBytes = 1114112;  // a body past the largest cap (1 MiB), for oversize tests
inline constexpr std::size_t kBlockedEntries = 10000;
inline constexpr std::size_t kReasonBytes = 1024;
inline constexpr std::size_t kInventoryEntries = 1000;
}  // namespace mitigd::limits
