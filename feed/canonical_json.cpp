#include "feed/canonical_json.hpp"

#include <algorithm>
#include <vector>

namespace mitigd::feed {
namespace {

void put_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

bool put(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; return true;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; return true;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); return true;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); return true;
    case boost::json::kind::double_: return false;
    case boost::json::kind::string: put_string(out, v.get_string()); return true;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        if (!put(out, e)) return false;
      }
      out.push_back(']');
      return true;
    }
    case boost::json::kind::object: {
      const auto& obj = v.get_object();
      std::vector<const boost::json::key_value_pair*> members;
      members.reserve(obj.size());
      for (const auto& kv : obj) members.push_back(&kv);
      // Byte order of the UTF-8 keys, which is code point order.
      std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
      out.push_back('{');
      bool first = true;
      for (const auto* kv : members) {
        if (!first) out.push_back(',');
        first = false;
        put_string(out, kv->key());
        out.push_back(':');
        if (!put(out, kv->value())) return false;
      }
      out.push_back('}');
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::string> canonical_json(const boost::json::value& value) {
  std::string out;
  if (!put(out, value)) {
    return make_error(Errc::invalid_input, "canonical JSON: floating point numbers cannot be signed");
  }
  return out;
}

}  // namespace mitigd::feed
