// Request preparation (see prepare.h): parse, render, tokenize; runs on the server's workers.
#include "prepare.h"

#include <random>

#include "anthropic.h"
#include "constraints.h"

#include "dari/engine/chat.h"
#include "dari/model/model.h"
#include "dari/sampling/sampler.h"
#include "dari/tokenizer/tokenizer.h"

namespace dari::server {

ApiError service_unavailable(std::string message) {
  ApiError e;
  e.status = 503;
  e.type = "service_unavailable";
  e.message = std::move(message);
  e.retry_after_s = 1;
  return e;
}

ApiError too_long(uint32_t n_ctx, size_t prompt_tokens, const std::string& extra,
                  std::string param) {
  return bad_request(std::move(param),
                     "This model's maximum context length is " + std::to_string(n_ctx) +
                         " tokens; the prompt has " + std::to_string(prompt_tokens) + " tokens" +
                         extra,
                     "context_length_exceeded");
}

namespace {

// The prompts of the request as token ids (chat: one rendered conversation).
std::variant<std::vector<std::vector<int32_t>>, ApiError> tokenize_prompts(
    const ServingEngine& engine, const ApiRequest& req, PreparedRequest* out,
    std::vector<std::string>* stops) {
  const Tokenizer& tok = engine.tokenizer();
  std::vector<std::vector<int32_t>> prompts;
  if (req.endpoint != Endpoint::kCompletions) {
    ChatFormatter fmt(tok, engine.chat_template());
    ChatRenderOptions ro;
    // Tools reach the template only when the model may call them (tool_choice none hides them,
    // as OpenAI's models then never see the functions).
    if (req.tool_choice != ToolChoice::kNone) ro.tools = req.tools_json;
    ro.extra_vars = req.chat_template_kwargs;
    auto rendered = fmt.render(req.messages, ro);
    if (!rendered.ok()) {
      return bad_request("messages", "cannot render the chat: " + rendered.message());
    }
    out->rendered_prompt = *rendered;
    prompts.push_back(fmt.tokenize_text(*rendered));
    for (auto& s : fmt.stop_strings()) stops->push_back(s);
    out->strip_leading_space = fmt.strip_reply_leading_space();
    return prompts;
  }
  for (size_t i = 0; i < req.prompts.size(); ++i) {
    const std::string param =
        req.prompts.size() == 1 ? "prompt" : "prompt[" + std::to_string(i) + "]";
    if (const auto* text = std::get_if<std::string>(&req.prompts[i])) {
      EncodeOptions eo;
      eo.add_special = true;
      eo.parse_special = true;
      prompts.push_back(tok.encode(*text, eo));
    } else {
      prompts.push_back(std::get<std::vector<int32_t>>(req.prompts[i]));
    }
    if (prompts.back().empty()) return bad_request(param, "'" + param + "' has no tokens");
  }
  return prompts;
}

// How the chat output is read: tool calls in the model's own format (or the generic JSON shape
// when the grammar forced a call), and reasoning when the template has think tags.
void set_output_parsing(const ServingEngine& engine, PreparedRequest* out) {
  const ApiRequest& req = out->req;
  if (req.endpoint == Endpoint::kCompletions) return;
  const std::string tmpl = engine.chat_template();
  ToolCallFormat tools = ToolCallFormat::kNone;
  if (ConstraintBuilder::forces_tool_call(req)) {
    tools = ToolCallFormat::kGenericJson;
  } else if (!req.tools.empty() && req.tool_choice != ToolChoice::kNone) {
    tools = detect_tool_call_format(tmpl);
  }
  // A constrained output (JSON, grammar) is all content.
  const ReasoningFormat reasoning = req.output.kind == OutputConstraint::Kind::kText
                                        ? detect_reasoning_format(tmpl)
                                        : ReasoningFormat::kNone;
  // Anthropic's reply is always made of blocks: its text passes through the parser too.
  if (tools == ToolCallFormat::kNone && reasoning == ReasoningFormat::kNone &&
      req.endpoint != Endpoint::kMessages) {
    return;
  }
  out->parse_output = true;
  out->output_options = parse_options_for_prompt(tools, reasoning, out->rendered_prompt);
  out->output_options.parse_tool_calls = tools != ToolCallFormat::kNone;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  out->output_options.id_seed = rng() | 1u;
}

}  // namespace

std::variant<PreparedRequest, ApiError> prepare_request(const PrepareInput& in) {
  auto parsed = in.endpoint == Endpoint::kMessages ? parse_anthropic_request(in.body, *in.limits)
                                                   : parse_request(in.endpoint, in.body, *in.limits);
  if (auto* err = std::get_if<ApiError>(&parsed)) return *err;
  PreparedRequest out;
  out.req = std::move(std::get<ApiRequest>(parsed));
  const ApiRequest& req = out.req;
  std::vector<std::string> stops = req.stop;
  auto prompts = tokenize_prompts(*in.engine, req, &out, &stops);
  if (auto* err = std::get_if<ApiError>(&prompts)) return *err;
  const uint32_t n_ctx = in.engine->n_ctx();
  SamplingParams sp;
  sp.temperature = req.temperature;
  sp.top_p = req.top_p;
  sp.top_k = req.top_k;
  sp.min_p = req.min_p;
  sp.typical_p = req.typical_p;
  sp.repetition_penalty = req.repetition_penalty;
  sp.repeat_last_n = req.repeat_last_n;
  sp.frequency_penalty = req.frequency_penalty;
  sp.presence_penalty = req.presence_penalty;
  sp.logit_bias = req.logit_bias;
  sp.seed = req.seed ? static_cast<uint64_t>(*req.seed) : random_seed();
  sp.n_logprobs = req.logprobs;
  if (in.constraints != nullptr) {
    auto c = in.constraints->build(req, in.engine->tokenizer());
    if (auto* err = std::get_if<ApiError>(&c)) return *err;
    sp.constraint = std::get<0>(std::move(c));
  } else if (req.output.kind != OutputConstraint::Kind::kText ||
             ConstraintBuilder::forces_tool_call(req)) {
    return bad_request(req.output.param, "output constraints are not available here");
  }
  set_output_parsing(*in.engine, &out);
  for (auto& p : std::get<0>(prompts)) {
    // OpenAI answers 400 when the requested tokens cannot fit; the engine alone would stop
    // early with finish "length".
    if (req.max_tokens && p.size() < n_ctx &&
        p.size() + static_cast<uint64_t>(*req.max_tokens) > n_ctx) {
      return too_long(n_ctx, p.size(), " and max_tokens is " + std::to_string(*req.max_tokens),
                      "max_tokens");
    }
    ServingRequest sr;
    sr.prompt = std::move(p);
    sr.sampling = sp;
    // OpenAI's legacy completions default to 16 tokens; chat runs to a stop or the context end.
    sr.max_tokens =
        req.max_tokens ? *req.max_tokens : (req.endpoint == Endpoint::kCompletions ? 16 : -1);
    sr.stop = stops;
    sr.n = req.n;
    sr.ignore_eog = req.ignore_eos;
    // Tool-call markers are often control tokens ([TOOL_CALLS], <|python_tag|>): the parser
    // must see them.
    sr.render_special = out.parse_output && out.output_options.parse_tool_calls;
    out.runs.push_back(std::move(sr));
  }
  return out;
}

}  // namespace dari::server
