// Engine tests on the real stories260K model: greedy golden continuation, chunked prefill,
// seeded sampling, stops, context limits, prefix reuse and several sequences.
#include "dari/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "dari/engine/chat.h"
#include "dari/io/gguf.h"

namespace dari {
namespace {

// DARI_TEST_STORIES_MODEL overrides the model path (for trying a locally rewritten copy).
const std::string kModel = std::getenv("DARI_TEST_STORIES_MODEL") != nullptr
                               ? std::string(std::getenv("DARI_TEST_STORIES_MODEL"))
                               : std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
const std::vector<int32_t> kPromptIds = {1, 403, 407, 261, 378};
const std::vector<int32_t> kGolden48 = {
    432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
    261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432};
const char* kGoldenText =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it,";

std::unique_ptr<Engine> load(uint32_t n_ctx = 0, uint32_t chunk = 512, uint32_t n_seq = 1) {
  EngineOptions o;
  o.model_path = kModel;
  o.n_ctx = n_ctx;
  o.prefill_chunk = chunk;
  o.max_sequences = n_seq;
  o.n_threads = 1;
  auto e = Engine::load(o);
  EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.message());
  return e.ok() ? std::move(e).value() : nullptr;
}

GenerateOptions greedy(int32_t n) {
  GenerateOptions g;
  g.sampling.temperature = 0.0f;
  g.max_tokens = n;
  return g;
}

GenerationResult run(Engine& e, const std::vector<int32_t>& prompt, const GenerateOptions& g,
                     SeqId seq = -1) {
  const bool temporary = seq < 0;
  if (temporary) {
    auto s = e.create_sequence();
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
    if (!s.ok()) return {};
    seq = *s;
  }
  auto r = e.generate(seq, prompt, g);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
  if (temporary) e.free_sequence(seq);
  return r.ok() ? std::move(r).value() : GenerationResult{};
}

TEST(Engine, TokenizesPrompt) {
  auto e = load();
  ASSERT_TRUE(e);
  EXPECT_EQ(*e->tokenize("Once upon a time", true, false), kPromptIds);
  EXPECT_EQ(e->n_ctx(), 2048u);
  EXPECT_TRUE(e->is_eog(2));
  EXPECT_FALSE(e->is_eog(432));
}

TEST(Engine, GreedyGoldenContinuation) {
  auto e = load();
  ASSERT_TRUE(e);
  std::string streamed;
  int events = 0;
  FinishReason last = FinishReason::kNone;
  auto seq = e->create_sequence();
  ASSERT_TRUE(seq.ok());
  auto r = e->generate(*seq, kPromptIds, greedy(48), [&](const TokenEvent& ev) {
    EXPECT_EQ(last, FinishReason::kNone);  // only the final event carries a finish reason
    streamed += ev.text;
    last = ev.finish;
    ++events;
  });
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->tokens, kGolden48);
  EXPECT_EQ(r->text, kGoldenText);
  EXPECT_EQ(streamed, kGoldenText);
  EXPECT_EQ(events, 48);
  EXPECT_EQ(last, FinishReason::kLength);
  EXPECT_EQ(r->finish, FinishReason::kLength);
  EXPECT_EQ(r->timings.prompt_tokens, 5u);
  EXPECT_EQ(r->timings.generated_tokens, 48u);
}

TEST(Engine, ChunkedPrefillSameTokens) {
  for (uint32_t chunk : {1u, 3u, 512u}) {
    auto e = load(0, chunk);
    ASSERT_TRUE(e);
    EXPECT_EQ(run(*e, kPromptIds, greedy(24)).tokens,
              std::vector<int32_t>(kGolden48.begin(), kGolden48.begin() + 24))
        << "chunk " << chunk;
  }
}

TEST(Engine, SeededSamplingReproducible) {
  auto e = load();
  ASSERT_TRUE(e);
  GenerateOptions g;
  g.max_tokens = 40;
  g.sampling.temperature = 1.0f;
  g.sampling.seed = 42;
  const auto a = run(*e, kPromptIds, g);
  const auto b = run(*e, kPromptIds, g);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  g.sampling.seed = 43;
  const auto c = run(*e, kPromptIds, g);
  EXPECT_NE(a.tokens, c.tokens);
}

TEST(Engine, PromptLongerThanContextIsError) {
  auto e = load(8);
  ASSERT_TRUE(e);
  auto seq = e->create_sequence();
  ASSERT_TRUE(seq.ok());
  std::vector<int32_t> prompt(8, 403);
  auto r = e->generate(*seq, prompt, greedy(4));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("context holds 8"), std::string::npos) << r.message();
  EXPECT_FALSE(e->generate(*seq, {}, greedy(4)).ok());                      // empty prompt
  EXPECT_FALSE(e->generate(*seq, std::vector<int32_t>{1, 9999}, greedy(4)).ok());  // bad id
  EXPECT_FALSE(e->generate(*seq + 100, kPromptIds, greedy(4)).ok());      // unknown sequence
}

TEST(Engine, StopsAtContextWithLength) {
  auto e = load(16);
  ASSERT_TRUE(e);
  const auto r = run(*e, kPromptIds, greedy(-1));
  EXPECT_EQ(r.finish, FinishReason::kLength);
  EXPECT_EQ(r.tokens.size(), 11u);  // prompt 5 + 11 generated = 16 = n_ctx
  EXPECT_EQ(r.tokens, std::vector<int32_t>(kGolden48.begin(), kGolden48.begin() + 11));
}

TEST(Engine, StopString) {
  auto e = load();
  ASSERT_TRUE(e);
  GenerateOptions g = greedy(48);
  g.stop = {" girl", "zzz"};
  std::string streamed;
  auto seq = e->create_sequence();
  auto r = e->generate(*seq, kPromptIds, g, [&](const TokenEvent& ev) { streamed += ev.text; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kStop);
  EXPECT_EQ(r->stop_string, " girl");
  EXPECT_EQ(r->text, ", there was a little");
  EXPECT_EQ(streamed, r->text);
}

TEST(Engine, StopsAtEndOfGeneration) {
  auto e = load();
  ASSERT_TRUE(e);
  GenerateOptions g = greedy(4);
  g.sampling.logit_bias[2] = 100.0f;  // force </s>
  const auto r = run(*e, kPromptIds, g);
  EXPECT_EQ(r.finish, FinishReason::kStop);
  EXPECT_EQ(r.tokens, std::vector<int32_t>{2});
  EXPECT_EQ(r.text, "");
  g.ignore_eog = true;
  EXPECT_EQ(run(*e, kPromptIds, g).tokens.size(), 4u);
}

TEST(Engine, CancelFlag) {
  auto e = load();
  ASSERT_TRUE(e);
  std::atomic<bool> cancel{false};
  GenerateOptions g = greedy(48);
  g.cancel = &cancel;
  auto seq = e->create_sequence();
  int n = 0;
  auto r = e->generate(*seq, kPromptIds, g, [&](const TokenEvent&) {
    if (++n == 3) cancel.store(true);
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kCancelled);
  EXPECT_EQ(r->tokens.size(), 4u);  // seen after the token following the one that set it
}

TEST(Engine, PrefixReuseAcrossTurns) {
  auto e = load();
  ASSERT_TRUE(e);
  auto seq = e->create_sequence();
  const auto first = run(*e, kPromptIds, greedy(10), *seq);
  // Second "turn": the old prompt + the reply + more text.
  std::vector<int32_t> prompt2 = kPromptIds;
  prompt2.insert(prompt2.end(), first.tokens.begin(), first.tokens.end());
  prompt2.push_back(426);
  const auto second = run(*e, prompt2, greedy(8), *seq);
  EXPECT_EQ(second.timings.cached_tokens, 14u);  // prompt + 9 stored reply tokens
  // Same as computing from scratch.
  auto fresh = load();
  EXPECT_EQ(run(*fresh, prompt2, greedy(8)).tokens, second.tokens);
  // A shorter, diverging prompt truncates the cache and still gives the golden start.
  const auto third = run(*e, kPromptIds, greedy(6), *seq);
  EXPECT_EQ(third.tokens, std::vector<int32_t>(kGolden48.begin(), kGolden48.begin() + 6));
  EXPECT_EQ(third.timings.cached_tokens, 4u);
}

TEST(Engine, SeveralSequences) {
  auto e = load(64, 512, 2);
  ASSERT_TRUE(e);
  auto a = e->create_sequence();
  auto b = e->create_sequence();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(e->create_sequence().ok());  // max_sequences = 2
  const std::vector<int32_t> other = {1, 385};
  const auto ra = run(*e, kPromptIds, greedy(12), *a);
  const auto rb = run(*e, other, greedy(12), *b);
  const auto ra2 = run(*e, kPromptIds, greedy(12), *b);  // b switches prompts
  EXPECT_EQ(ra.tokens, std::vector<int32_t>(kGolden48.begin(), kGolden48.begin() + 12));
  EXPECT_EQ(ra2.tokens, ra.tokens);
  e->free_sequence(*a);
  auto c = e->create_sequence();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(run(*e, other, greedy(12), *c).tokens, rb.tokens);
}

TEST(Engine, Logprobs) {
  auto e = load();
  ASSERT_TRUE(e);
  GenerateOptions g = greedy(3);
  g.sampling.n_logprobs = 5;
  std::vector<TokenEvent> evs;
  auto seq = e->create_sequence();
  auto r = e->generate(*seq, kPromptIds, g, [&](const TokenEvent& ev) { evs.push_back(ev); });
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(evs.size(), 3u);
  for (const auto& ev : evs) {
    ASSERT_EQ(ev.top_logprobs.size(), 5u);
    EXPECT_EQ(ev.top_logprobs[0].token, ev.token);  // greedy picks the most likely
    EXPECT_FLOAT_EQ(ev.top_logprobs[0].logprob, ev.logprob);
    EXPECT_LT(ev.logprob, 0.0f);
    EXPECT_GE(ev.top_logprobs[0].logprob, ev.top_logprobs[4].logprob);
  }
}

TEST(Engine, ChatFallbackFormat) {
  auto e = load();
  ASSERT_TRUE(e);
  ChatFormatter f(*e);
  EXPECT_FALSE(f.uses_template());  // stories260K has no chat template
  std::vector<ChatMessage> msgs = {{"system", "Be nice."}, {"user", "Hi"},
                                   {"assistant", "Hello"}, {"user", "Tell a story"}};
  EXPECT_EQ(*f.render(msgs), "Be nice.\n\nUser: Hi\nAssistant: Hello\nUser: Tell a story\nAssistant:");
  auto toks = f.tokenize(msgs);
  ASSERT_TRUE(toks.ok());
  EXPECT_EQ(toks->front(), 1);  // BOS from the metadata
  EXPECT_EQ(f.stop_strings(), std::vector<std::string>{"\nUser:"});
}

// A copy of the test model with a chat template added (written with GgufWriter).
std::string model_with_template(const std::string& name, const std::string& tmpl) {
  auto src = GgufFile::open(kModel);
  EXPECT_TRUE(src.ok()) << (src.ok() ? "" : src.message());
  if (!src.ok()) return {};
  GgufWriter w;
  for (const auto& [key, value] : src->metadata()) w.set(key, value);
  w.set_string("tokenizer.chat_template", tmpl);
  for (const auto& t : src->tensors()) {
    std::vector<uint64_t> ne(t.ne, t.ne + t.n_dims);
    EXPECT_TRUE(w.add_tensor(t.name, t.type, ne, t.data, t.n_bytes).ok());
  }
  const std::string path = std::string(DARI_BINARY_DIR) + "/tests/engine/" + name + ".gguf";
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

TEST(Engine, ChatTemplateFromModel) {
  const std::string path = model_with_template(
      "chatml", "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
                "{{ '<|im_start|>assistant\\n' }}{% endif %}");
  EngineOptions o;
  o.model_path = path;
  auto e = Engine::load(o);
  ASSERT_TRUE(e.ok()) << e.message();
  ChatFormatter f(**e);
  ASSERT_TRUE(f.uses_template());
  EXPECT_TRUE(f.stop_strings().empty());
  const std::vector<ChatMessage> msgs = {{"system", "S"}, {"user", "Hi"}};
  EXPECT_EQ(*f.render(msgs),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
  ChatFormatter plain(**e, false);
  EXPECT_FALSE(plain.uses_template());
  // A template that writes BOS itself: tokenize() does not add a second one.
  const std::string bos_path =
      model_with_template("bos", "{{ bos_token }}{% for m in messages %}{{ m['content'] }}"
                                 "{% endfor %}");
  o.model_path = bos_path;
  auto e2 = Engine::load(o);
  ASSERT_TRUE(e2.ok()) << e2.message();
  ChatFormatter f2(**e2);
  auto toks = f2.tokenize({{"user", "Once upon a time"}});
  ASSERT_TRUE(toks.ok()) << toks.message();
  ASSERT_FALSE(toks->empty());
  EXPECT_EQ((*toks)[0], 1);
  EXPECT_EQ(std::count(toks->begin(), toks->end(), 1), 1);
}

TEST(Engine, LoadErrors) {
  EngineOptions o;
  EXPECT_FALSE(Engine::load(o).ok());
  o.model_path = "/nonexistent/model.gguf";
  EXPECT_FALSE(Engine::load(o).ok());
  o.model_path = kModel;
  o.prefill_chunk = 0;
  EXPECT_FALSE(Engine::load(o).ok());
}

}  // namespace
}  // namespace dari
