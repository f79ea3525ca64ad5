// libFuzzer harness: arbitrary bytes through the OpenAI request parser/validator.
// Input: first byte selects the endpoint ('c' chat, else completions), the rest is the body.
// Checks: never crashes; errors carry a 4xx status and a message; accepted requests satisfy the
// documented ranges.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dari/server/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dari::server;
  if (size == 0) return 0;
  const Endpoint ep = data[0] == 'c' ? Endpoint::kChat : Endpoint::kCompletions;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  ApiLimits lim;
  auto r = parse_request(ep, body, lim);
  if (const auto* e = std::get_if<ApiError>(&r)) {
    if (e->status < 400 || e->status >= 500 || e->message.empty()) std::abort();
    return 0;
  }
  const ApiRequest& q = std::get<ApiRequest>(r);
  if (q.n < 1 || q.n > lim.max_n) std::abort();
  if (q.max_tokens && *q.max_tokens < 1) std::abort();
  if (!(q.temperature >= 0.0f && q.temperature <= 2.0f)) std::abort();
  if (!(q.top_p > 0.0f && q.top_p <= 1.0f)) std::abort();
  if (q.logprobs < -1 || q.logprobs > 20) std::abort();
  if (q.stop.size() > lim.max_stop) std::abort();
  for (const auto& s : q.stop) {
    if (s.empty()) std::abort();
  }
  for (const auto& [id, bias] : q.logit_bias) {
    if (id < 0 || !(bias >= -100.0f && bias <= 100.0f)) std::abort();
  }
  if (ep == Endpoint::kChat ? q.messages.empty() : q.prompts.empty()) std::abort();
  for (const auto& p : q.prompts) {
    if (const auto* ids = std::get_if<std::vector<int32_t>>(&p)) {
      for (int32_t id : *ids) {
        if (id < 0) std::abort();
      }
    }
  }
  return 0;
}
