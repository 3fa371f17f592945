#include "policies/time_util.hpp"

#include <cstdio>

namespace mitigd {
namespace chr = std::chrono;

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::optional<chr::sys_days> parse_day(std::string_view s) {
  int y = 0, m = 0, d = 0;
  if (s.size() < 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' ||
      !digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  chr::year_month_day ymd{chr::year{y}, chr::month{static_cast<unsigned>(m)},
                          chr::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return chr::sys_days{ymd};
}

}  // namespace

std::optional<SysSeconds> parse_utc_timestamp(std::string_view s) {
  if (s.size() != 20 || s[10] != 'T' || s[19] != 'Z') return std::nullopt;
  auto day = parse_day(s.substr(0, 10));
  int hh = 0, mm = 0, ss = 0;
  if (!day || !digits(s, 11, 2, hh) || s[13] != ':' || !digits(s, 14, 2, mm) || s[16] != ':' ||
      !digits(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60) {
    return std::nullopt;
  }
  return SysSeconds{*day} + chr::hours{hh} + chr::minutes{mm} + chr::seconds{ss};
}

std::optional<SysSeconds> parse_date_end_of_day(std::string_view s) {
  if (s.size() != 10) return std::nullopt;
  auto day = parse_day(s);
  if (!day) return std::nullopt;
  return SysSeconds{*day + chr::days{1}};
}

std::optional<SysSeconds> parse_until(std::string_view s) {
  return s.size() == 10 ? parse_date_end_of_day(s) : parse_utc_timestamp(s);
}

std::string format_utc(SysSeconds t) {
  auto day = chr::floor<chr::days>(t);
  chr::year_month_day ymd{day};
  chr::hh_mm_ss hms{t - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace mitigd
