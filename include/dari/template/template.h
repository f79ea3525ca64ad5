// Jinja2 templates: parse once, render many times (the subset real chat templates use).
//
// The language follows Python Jinja 3.1 semantics: whitespace control (`-`, `+`, trim_blocks,
// lstrip_blocks), if/for/set/macro/call/filter/raw/break/continue/do/generation, Python value
// semantics (Undefined vs None, truthiness, int/float printing, str/repr of lists and dicts),
// the common filters, tests and str/dict/list methods. See docs in src/template/*.h.
//
// Ownership: a Template owns its parsed AST (shared, immutable); copies are cheap.
// Thread safety: one Template may be rendered from several threads at once (render keeps all
// mutable state on the calling thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "dari/core/result.h"

namespace dari::jinja {

struct TemplateOptions {
  bool trim_blocks = false;    // drop the first newline after a block tag
  bool lstrip_blocks = false;  // strip spaces/tabs before a block tag at the start of a line
};

// Guards against pathological templates; exceeding one fails the render with a message.
struct RenderLimits {
  size_t max_output_bytes = 32u << 20;    // any single string, incl. the whole output
  size_t max_list_items = 1u << 20;       // items in one list built by the template
  uint64_t max_loop_iterations = 1u << 22;  // for-loop iterations in one render, all loops
  uint64_t max_steps = 1u << 26;          // evaluated expressions + statements
  int max_depth = 400;                    // nesting of evaluation (macro recursion, expressions)
};

struct Stmt;

class Template {
 public:
  // Parses `source`. Errors name line and column ("line 3, column 5: ...").
  static Result<Template> parse(const std::string& source, const TemplateOptions& options = {});

  // Renders with `context` (a JSON object: each member becomes a variable; key order kept).
  // `now_unix_seconds` is the time strftime_now() formats (UTC).
  Result<std::string> render(const nlohmann::ordered_json& context, int64_t now_unix_seconds = 0,
                             const RenderLimits& limits = {}) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace dari::jinja
