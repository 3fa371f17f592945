#pragma once
// A complete mitigd deployment in a temp dir, in front of a real web server: manifests, policy,
// inventory, state database, and the engine that mitigctl and mitigd use.
#include "daemon/engine.hpp"
#include "tests/integration/test_servers.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

namespace mitigd::testing {

struct WebTarget {
  std::string kind;  // nginx | apache
  std::string http_dir, server_dir, url;
  std::vector<std::string> validate, reload;
  std::string rules_engine;  // nginx: "config" or "module"; empty: the default
};

class Deployment {
 public:
  Deployment(const WebTarget& web, const std::vector<std::string>& example_ids, const std::string& version)
      : dir_(make_temp_dir("deploy")) {
    namespace fs = std::filesystem;
    fs::create_directories(dir_ + "/manifests");
    fs::create_directories(dir_ + "/policy/servers");
    for (const auto& id : example_ids) {
      fs::copy_file(std::string(MITIGD_SOURCE_DIR) + "/examples/manifests/" + id + ".json", dir_ + "/manifests/" + id + ".json");
    }
    write("policy/org.json", R"({"mitigations_enabled": true, "auto_revert": true})");
    set_version(version);
    boost::json::object ws{{"kind", web.kind}, {"server_include_dir", web.server_dir}, {"probe_url", web.url}};
    if (!web.http_dir.empty()) ws["http_include_dir"] = web.http_dir;
    if (!web.rules_engine.empty()) ws["rules_engine"] = web.rules_engine;
    boost::json::array validate, reload;
    for (const auto& a : web.validate) validate.push_back(boost::json::string(a));
    for (const auto& a : web.reload) reload.push_back(boost::json::string(a));
    ws["validate"] = validate;
    ws["reload"] = reload;
    boost::json::object inv{{"host", "mail01"},
                            {"products", {{"exchange", {{"scheme", "dotted"}, {"version", {{"file", "exchange.version"}}}}}}},
                            {"web_server", ws},
                            {"vdirs", {{"ecp", {{"prefix", "/ecp/"}}}, {"owa", {{"prefix", "/owa/"}}}}}};
    write("inventory.json", boost::json::serialize(inv));
    write("mitigd.json", R"({"inventory":"inventory.json","policy_dir":"policy","manifests_dir":"manifests","state_db":"state.db"})");
    auto config = load_config(dir_ + "/mitigd.json");
    REQUIRE(config.has_value());
    engine_ = std::make_unique<Engine>(*config, runner_, prober_);
    store_ = state::Store::open(dir_ + "/state.db");
  }
  ~Deployment() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ + "/" + rel, std::ios::trunc) << text;
  }
  void set_version(const std::string& v) { write("exchange.version", v + "\n"); }
  const std::string& dir() const { return dir_; }

  Plan plan() {
    auto loaded = engine_->load();
    INFO((loaded ? "" : loaded.error().message));
    REQUIRE(loaded.has_value());
    return engine_->plan(*store_, std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
  }
  ApplyOutcome converge() {
    Plan p = plan();
    ApplyOutcome out = engine_->apply(p, *store_, new_run_id(), "test");
    for (const auto& line : out.lines) UNSCOPED_INFO(line);
    return out;
  }
  state::Store& store() { return *store_; }

 private:
  std::string dir_;
  ProcessRunner runner_;
  HttpProber prober_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<state::Store> store_;
};

inline WebTarget target_of(const PrivateNginx& n, const std::string& rules_engine = "") {
  return {"nginx", n.http_dir(), n.server_dir(), n.url(), n.validate_command(), n.reload_command(), rules_engine};
}
inline WebTarget target_of(const PrivateApache& a) {
  return {"apache", "", a.server_dir(), a.url(), a.validate_command(), a.reload_command(), ""};
}

// Exploit requests of the example mitigations, raw, encoded, mixed-case and reordered.
struct Req {
  const char* method;
  const char* target;
  std::vector<std::pair<std::string, std::string>> headers;
};

inline std::vector<Req> exploit_requests() {
  return {
      {"GET", "/autodiscover/autodiscover.json?@evil.com/owa/&Email=autodiscover/autodiscover.json%3F@evil.com&Protocol=XYZ&FooProtocol=Powershell", {}},
      {"GET", "/autodiscover/autodiscover.json?@evil.com/%50owershell", {}},
      {"GET", "/AutoDiscover/AutoDiscover.json?@evil.com/PoWeRsHeLl", {}},
      {"GET", "/autodiscover/autodiscover%2Ejson?@evil.com/%70%6F%77%65%72%73%68%65%6C%6C", {}},
      {"POST", "/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@x.com/PowerShell", {}},
      {"GET", "/powershell/?x=Autodiscover", {}},
      {"GET", "/autodiscover/x?%0apowershell", {}},
      {"GET", "/ecp/y.js", {{"Cookie", "X-BEResource=localhost/EWS/Exchange.asmx?a=~1942062522"}}},
      {"GET", "/owa/auth/x.js", {{"Cookie", "X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3"}}},
      // Outside /ecp/, so that PL1's decoding is what blocks it (not ECP1's 503).
      {"GET", "/owa/y.js", {{"Cookie", "a=1; x-beresource=localhost%2FEWS%2FExchange.asmx%3Fa%3D%7E1"}}},
  };
}

// M2.1 in force: the CSP directive is appended to OWA's HTML answers, and to nothing else.
inline void check_m2_csp_on_owa_html_only(const std::string& url) {
  const std::string appended = "default-src 'self'; script-src-attr 'none'";
  CHECK(header_value(request(url, "GET", "/owa/"), "Content-Security-Policy") == appended);
  CHECK(header_value(request(url, "GET", "/OWA/inbox"), "Content-Security-Policy") == appended);
  CHECK(header_value(request(url, "POST", "/owa/service.svc?action=GetItem"), "Content-Security-Policy").empty());
  CHECK(header_value(request(url, "GET", "/EWS/Exchange.asmx"), "Content-Security-Policy").empty());
}

inline std::vector<Req> normal_requests() {
  return {
      {"POST", "/autodiscover/autodiscover.xml", {}},
      {"GET", "/owa/", {{"Cookie", "X-BackEndCookie=S-1-5-21=abc; X-BEResource=mailbox01"}}},
      {"GET", "/owa/?q=powershell", {}},
      {"POST", "/owa/service.svc?action=FindItem&q=autodiscover", {}},
      {"POST", "/EWS/Exchange.asmx", {}},
      {"POST", "/mapi/emsmdb/?MailboxId=abc@contoso.com", {}},
      {"POST", "/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=b&DeviceType=iPhone", {}},
      {"GET", "/powershell/?serializationLevel=Full", {}},
  };
}

}  // namespace mitigd::testing
