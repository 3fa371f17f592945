#include "policies/policy_edit.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace mitigd::policy_edit {
namespace json = boost::json;

namespace {

// A minimal scanner over JSON text that is already known to be valid: it finds the spans of the
// root object's members and of an array's elements, so edits can be made in place.
struct Span {
  std::size_t begin = 0, end = 0;  // [begin, end)
};

std::size_t skip_ws(const std::string& t, std::size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}

std::size_t skip_string(const std::string& t, std::size_t i) {  // t[i] == '"'
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  return t.size();
}

std::size_t skip_value(const std::string& t, std::size_t i) {
  if (t[i] == '"') return skip_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    for (; i < t.size(); ++i) {
      if (t[i] == '"') {
        i = skip_string(t, i) - 1;
      } else if (t[i] == '{' || t[i] == '[') {
        ++depth;
      } else if (t[i] == '}' || t[i] == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return t.size();
  }
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n' && t[i] != '\r' &&
         t[i] != '\t') {
    ++i;
  }
  return i;
}

// The value span of key `key` in the root object, or nullopt.
std::optional<Span> root_member(const std::string& t, const std::string& key) {
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  i = skip_ws(t, i + 1);
  while (i < t.size() && t[i] == '"') {
    std::size_t kend = skip_string(t, i);
    std::string k = json::value_to<std::string>(json::parse(t.substr(i, kend - i)));
    i = skip_ws(t, kend);
    i = skip_ws(t, i + 1);  // ':'
    std::size_t vend = skip_value(t, i);
    if (k == key) return Span{i, vend};
    i = skip_ws(t, vend);
    if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
  }
  return std::nullopt;
}

std::vector<Span> array_elements(const std::string& t, Span array) {
  std::vector<Span> out;
  std::size_t i = skip_ws(t, array.begin + 1);
  while (i < array.end - 1 && t[i] != ']') {
    std::size_t end = skip_value(t, i);
    out.push_back({i, end});
    i = skip_ws(t, end);
    if (t[i] == ',') i = skip_ws(t, i + 1);
  }
  return out;
}

std::string indent_of_line(const std::string& t, std::size_t pos) {
  std::size_t start = t.rfind('\n', pos);
  start = start == std::string::npos ? 0 : start + 1;
  std::size_t end = start;
  while (end < t.size() && (t[end] == ' ' || t[end] == '\t')) ++end;
  return t.substr(start, end - start);
}

Result<std::string> checked(const std::string& file, const std::string& text) {
  auto p = parse_policy_file(file, text);
  if (!p) return make_error(Errc::internal, "refusing to write " + file + ": the edit would make it invalid: " + p.error().message);
  return text;
}

Result<PolicyFile> valid(const std::string& file, const std::string& text) {
  auto p = parse_policy_file(file, text);
  if (!p) return make_error(Errc::invalid_input, "refusing to edit an invalid file: " + p.error().message);
  return p;
}

// Inserts `"key": value` as the root object's first member, on its own line.
std::string insert_root_member(const std::string& t, const std::string& key, const std::string& value) {
  std::size_t brace = t.find('{');
  std::size_t next = skip_ws(t, brace + 1);
  bool empty = next < t.size() && t[next] == '}';
  std::string indent = "  ";
  if (!empty) {
    std::string existing = indent_of_line(t, next);
    if (!existing.empty() && t.rfind('\n', next) > brace) indent = existing;
  }
  std::string member = "\n" + indent + "\"" + key + "\": " + value + (empty ? "\n" : ",");
  return t.substr(0, brace + 1) + member + (empty ? t.substr(next) : t.substr(brace + 1));
}

}  // namespace

std::string entry_line(const BlockEntry& e) {
  std::string line = "{ \"id\": " + json::serialize(json::string(e.id));
  if (!e.reason.empty()) line += ", \"reason\": " + json::serialize(json::string(e.reason));
  if (!e.by.empty()) line += ", \"by\": " + json::serialize(json::string(e.by));
  if (e.until) line += ", \"until\": " + json::serialize(json::string(*e.until));
  return line + " }";
}

Result<std::string> block(const std::string& file, const std::string& text, const std::vector<BlockEntry>& entries) {
  auto current = valid(file, text);
  if (!current) return current.error();
  std::string t = text;
  for (const BlockEntry& e : entries) {
    bool already = std::any_of(current->blocked.begin(), current->blocked.end(), [&](const BlockEntry& b) { return b.id == e.id; });
    if (already) continue;
    auto array = root_member(t, "blocked");
    if (!array) {
      t = insert_root_member(t, "blocked", "[]");
      array = root_member(t, "blocked");
    }
    std::string outer = indent_of_line(t, array->begin);
    std::string inner = outer + "  ";
    auto elements = array_elements(t, *array);
    if (elements.empty()) {
      // "[]" or "[ ]": the entry on its own line between the brackets.
      t = t.substr(0, array->begin) + "[\n" + inner + entry_line(e) + "\n" + outer + "]" + t.substr(array->end);
    } else {
      // Newest first: a new line with a trailing comma, nothing else changes.
      std::size_t at = elements.front().begin;
      std::string indent = indent_of_line(t, at);
      bool own_line = t.rfind('\n', at) != std::string::npos && t.rfind('\n', at) > array->begin;
      if (own_line) {
        std::size_t line_start = t.rfind('\n', at) + 1;
        t = t.substr(0, line_start) + indent + entry_line(e) + ",\n" + t.substr(line_start);
      } else {
        t = t.substr(0, at) + entry_line(e) + ", " + t.substr(at);
      }
    }
    auto reparsed = valid(file, t);
    if (!reparsed) return make_error(Errc::internal, "refusing to write " + file + ": " + reparsed.error().message);
    current = std::move(reparsed);
  }
  return checked(file, t);
}

Result<std::string> unblock(const std::string& file, const std::string& text, const std::vector<std::string>& ids) {
  auto current = valid(file, text);
  if (!current) return current.error();
  std::string t = text;
  for (const std::string& id : ids) {
    auto array = root_member(t, "blocked");
    if (!array) continue;
    auto elements = array_elements(t, *array);
    for (std::size_t k = 0; k < elements.size(); ++k) {
      auto entry = json::parse(t.substr(elements[k].begin, elements[k].end - elements[k].begin));
      const json::value* v = entry.as_object().if_contains("id");
      if (!v || !v->is_string() || v->as_string() != id) continue;
      if (elements.size() == 1) {
        t = t.substr(0, array->begin) + "[]" + t.substr(array->end);
      } else if (k + 1 < elements.size()) {
        // Remove from the start of its line (or the entry) up to the next element.
        std::size_t from = elements[k].begin;
        std::size_t line_start = t.rfind('\n', from);
        bool own_line = line_start != std::string::npos && line_start > array->begin &&
                        t.find_first_not_of(" \t", line_start + 1) == from;
        std::size_t to = elements[k + 1].begin;
        if (own_line) {
          from = line_start + 1;
          std::size_t next_line = t.rfind('\n', to);
          if (next_line != std::string::npos && next_line >= elements[k].end) to = next_line + 1;
        }
        t.erase(from, to - from);
      } else {
        // The last element: remove the comma after the previous one up to this one's end; the
        // closing bracket keeps its line.
        t.erase(elements[k - 1].end, elements[k].end - elements[k - 1].end);
      }
      break;
    }
  }
  return checked(file, t);
}

Result<std::string> clear(const std::string& file, const std::string& text) {
  auto current = valid(file, text);
  if (!current) return current.error();
  auto array = root_member(text, "blocked");
  if (!array) return text;
  return checked(file, text.substr(0, array->begin) + "[]" + text.substr(array->end));
}

Result<std::string> set_enabled(const std::string& file, const std::string& text, bool enabled) {
  auto current = valid(file, text);
  if (!current) return current.error();
  auto member = root_member(text, "mitigations_enabled");
  std::string value = enabled ? "true" : "false";
  if (!member) return checked(file, insert_root_member(text, "mitigations_enabled", value));
  return checked(file, text.substr(0, member->begin) + value + text.substr(member->end));
}

}  // namespace mitigd::policy_edit
