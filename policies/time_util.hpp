#pragma once
// UTC time stamps as they appear in manifests, policy and output. Only the forms we write are
// accepted: "2027-06-01T00:00:00Z" and, where a date makes sense, "2026-12-31".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mitigd {

using SysSeconds = std::chrono::sys_seconds;

std::optional<SysSeconds> parse_utc_timestamp(std::string_view text);
// A date means the whole day in UTC: the result is the first second of the next day.
std::optional<SysSeconds> parse_date_end_of_day(std::string_view text);
// "2026-12-31" or a timestamp; for dates, end of that day.
std::optional<SysSeconds> parse_until(std::string_view text);
std::string format_utc(SysSeconds t);

}  // namespace mitigd
