#include "policies/json_duplicates.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <set>
#include <vector>

namespace mitigd::json_input {
namespace {

using boost::system::error_code;
using boost::json::string_view;

struct Handler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  struct Frame {
    bool object = false;
    std::set<std::string> keys;
    std::string key;         // the current key (objects)
    std::size_t index = 0;   // the current element (arrays)
    std::string path;        // of this container
  };
  std::vector<Frame> stack;
  std::string key_part;
  std::optional<DuplicateKey> found;

  std::string child_path() const {
    if (stack.empty()) return {};
    const Frame& f = stack.back();
    if (f.object) return f.path.empty() ? f.key : f.path + "." + f.key;
    return f.path + "[" + std::to_string(f.index) + "]";
  }
  void value_done() {
    if (!stack.empty() && !stack.back().object) ++stack.back().index;
  }
  bool begin(bool object) {
    Frame f;
    f.object = object;
    f.path = child_path();
    stack.push_back(std::move(f));
    return true;
  }
  bool end() {
    stack.pop_back();
    value_done();
    return true;
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_array_begin(error_code&) { return begin(false); }
  bool on_array_end(std::size_t, error_code&) { return end(); }
  bool on_object_begin(error_code&) { return begin(true); }
  bool on_object_end(std::size_t, error_code&) { return end(); }
  bool on_string_part(string_view, std::size_t, error_code&) { return true; }
  bool on_string(string_view, std::size_t, error_code&) { return value_done(), true; }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    key_part.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code& ec) {
    key_part.append(s.data(), s.size());
    Frame& f = stack.back();
    f.key = std::move(key_part);
    key_part.clear();
    if (!f.keys.insert(f.key).second) {
      found = DuplicateKey{f.path, f.key, 0};
      ec = boost::json::error::syntax;  // stop here
      return false;
    }
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, string_view, error_code&) { return value_done(), true; }
  bool on_uint64(std::uint64_t, string_view, error_code&) { return value_done(), true; }
  bool on_double(double, string_view, error_code&) { return value_done(), true; }
  bool on_bool(bool, error_code&) { return value_done(), true; }
  bool on_null(error_code&) { return value_done(), true; }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }
};

}  // namespace

std::optional<DuplicateKey> find_duplicate_key(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::json::basic_parser<Handler> parser(options);
  error_code ec;
  std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  auto found = parser.handler().found;
  if (!found) return std::nullopt;
  // The parser stopped just after the second key: its line.
  found->line = 1;
  for (std::size_t i = 0; i < consumed && i < text.size(); ++i) found->line += text[i] == '\n';
  return found;
}

}  // namespace mitigd::json_input
