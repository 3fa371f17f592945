// mitigctl check: the wiring of this server, each problem with its fix.
#include "daemon/cli_common.hpp"
#include "daemon/wiring_check.hpp"

#include <boost/json.hpp>

#include <iostream>
#include <sstream>

namespace mitigd {
namespace json = boost::json;

void print_check_items(const std::vector<CheckItem>& items, std::ostream& out) {
  for (const auto& i : items) {
    out << (i.level == CheckItem::Level::ok ? "ok    " : i.level == CheckItem::Level::warn ? "warn  " : "FAIL  ") << i.name
        << ": " << i.detail << "\n";
    if (!i.fix.empty() && i.level != CheckItem::Level::ok) out << "      fix: " << i.fix << "\n";
  }
}

int cmd_check(Cli& cli, const Args& args) {
  Config config = cli.config();
  ProcessRunner runner;
  HttpProber prober;
  auto items = check_wiring(config, runner, prober, CheckOptions{!args.flag("--offline")});
  int failures = 0, warnings = 0;
  for (const auto& i : items) {
    failures += i.level == CheckItem::Level::fail;
    warnings += i.level == CheckItem::Level::warn;
  }
  if (cli.json_out) {
    json::array arr;
    for (const auto& i : items) {
      arr.push_back(json::object{{"name", i.name}, {"level", to_string(i.level)}, {"detail", i.detail}, {"fix", i.fix},
                                 {"blocking", i.blocking}});
    }
    print_json(json::object{{"ok", failures == 0}, {"checks", std::move(arr)}});
  } else {
    print_check_items(items, std::cout);
    std::cout << "\n" << failures << " problem(s), " << warnings << " warning(s)\n";
  }
  return failures == 0 ? 0 : 1;
}

void refuse_on_blocking_problems(const Config& config) {
  auto problems = blocking_problems(config);
  if (problems.empty()) return;
  std::ostringstream text;
  text << "this server is not wired for mitigd yet; nothing was changed:\n";
  print_check_items(problems, text);
  text << "(mitigctl check shows the whole wiring)";
  throw ErrorException(make_error(Errc::environment, text.str()));
}

}  // namespace mitigd
