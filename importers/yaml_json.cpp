#include "importers/yaml_json.hpp"

#include "importers/import_model.hpp"

#include <yaml.h>

#include <memory>

namespace mitigd::importers {
namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 32;

json::value convert(yaml_document_t* doc, yaml_node_t* node, const std::string& file, int depth) {
  auto where = [&] { return file + ":" + std::to_string(node->start_mark.line + 1); };
  if (depth > kMaxDepth) throw Refused(where(), "nested deeper than " + std::to_string(kMaxDepth) + " levels");
  switch (node->type) {
    case YAML_SCALAR_NODE:
      return json::string(reinterpret_cast<const char*>(node->data.scalar.value), node->data.scalar.length);
    case YAML_SEQUENCE_NODE: {
      json::array out;
      for (yaml_node_item_t* i = node->data.sequence.items.start; i < node->data.sequence.items.top; ++i) {
        out.push_back(convert(doc, yaml_document_get_node(doc, *i), file, depth + 1));
      }
      return out;
    }
    case YAML_MAPPING_NODE: {
      json::object out;
      for (yaml_node_pair_t* p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; ++p) {
        yaml_node_t* key = yaml_document_get_node(doc, p->key);
        if (key->type != YAML_SCALAR_NODE) throw Refused(where(), "a mapping key that is not a plain value");
        std::string k(reinterpret_cast<const char*>(key->data.scalar.value), key->data.scalar.length);
        if (out.contains(k)) throw Refused(where(), "the key \"" + k + "\" twice");
        out[k] = convert(doc, yaml_document_get_node(doc, p->value), file, depth + 1);
      }
      return out;
    }
    default:
      throw Refused(where(), "an empty YAML node");
  }
}

}  // namespace

json::value yaml_to_json(const std::string& file, std::string_view text) {
  if (text.size() > 4 * 1024 * 1024) throw Refused(file, "larger than 4 MiB");
  if (text.find('&') != std::string_view::npos && text.find('*') != std::string_view::npos) {
    // Anchors and aliases could multiply a small file into a huge tree: libyaml expands them.
    yaml_parser_t probe;
    yaml_parser_initialize(&probe);
    yaml_parser_set_input_string(&probe, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    yaml_event_t ev;
    bool alias = false;
    while (yaml_parser_parse(&probe, &ev)) {
      bool end = ev.type == YAML_STREAM_END_EVENT;
      alias = alias || ev.type == YAML_ALIAS_EVENT;
      yaml_event_delete(&ev);
      if (end || alias) break;
    }
    yaml_parser_delete(&probe);
    if (alias) throw Refused(file, "YAML aliases are not accepted in imported rules");
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> p_guard(&parser, yaml_parser_delete);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  if (!yaml_parser_load(&parser, &doc)) {
    throw Refused(file + ":" + std::to_string(parser.problem_mark.line + 1) + ":" + std::to_string(parser.problem_mark.column + 1),
                  std::string("YAML: ") + (parser.problem ? parser.problem : "syntax error"));
  }
  std::unique_ptr<yaml_document_t, void (*)(yaml_document_t*)> d_guard(&doc, yaml_document_delete);
  yaml_node_t* root = yaml_document_get_root_node(&doc);
  if (root == nullptr) throw Refused(file, "an empty document");
  return convert(&doc, root, file, 0);
}

}  // namespace mitigd::importers
