// Engine: load, sequences, chunked prefill and the token-by-token decode loop.
#include "dari/engine.h"

#include <algorithm>
#include <chrono>

#include "dari/core/strings.h"
#include "dari/model/model.h"
#include "dari/tokenizer/tokenizer.h"
#include "engine/choice_state.h"

namespace dari {
namespace {

constexpr uint32_t kDefaultMaxCtx = 4096;
constexpr uint32_t kMaxSequences = 1024;
constexpr uint32_t kMaxCtx = 1u << 20;  // tokens per sequence; positions stay far below INT32_MAX

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool cancelled_now(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kNone: break;
  }
  return "none";
}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::load(const EngineOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opts.model_path.empty()) return make_error("engine: no model path given");
  if (opts.prefill_chunk == 0) return make_error("engine: prefill_chunk must be >= 1");
  if (opts.max_sequences == 0 || opts.max_sequences > kMaxSequences) {
    return make_error(str_format("engine: max_sequences must be in [1, %u], got %u",
                                 kMaxSequences, opts.max_sequences));
  }
  if (opts.kv_dtype != GgmlType::F16 && opts.kv_dtype != GgmlType::F32) {
    return make_error("engine: KV cache dtype must be F16 or F32");
  }
  std::unique_ptr<Engine> e(new Engine());
  ModelLoadOptions mopts;
  mopts.n_threads = opts.n_threads;
  mopts.repack = opts.repack;
  mopts.backend = opts.backend;
  mopts.n_gpu_layers = opts.n_gpu_layers;
  mopts.kv_dtype = opts.kv_dtype;
  DARI_ASSIGN_OR_RETURN(e->model_, Model::load(opts.model_path, mopts));
  auto tok = Tokenizer::from_gguf(e->model_->gguf());
  if (!tok.ok()) return make_error(opts.model_path + ": tokenizer: " + tok.message());
  e->tokenizer_ = std::make_unique<Tokenizer>(std::move(tok).value());
  const ModelConfig& cfg = e->model_->config();
  if (e->tokenizer_->n_tokens() != cfg.n_vocab) {
    return make_error(str_format("%s: tokenizer has %zu tokens but the model's vocabulary has %u",
                                 opts.model_path.c_str(), e->tokenizer_->n_tokens(),
                                 cfg.n_vocab));
  }
  uint32_t n_ctx = opts.n_ctx;
  if (n_ctx == 0) {
    n_ctx = cfg.n_ctx_train > 0 ? std::min(cfg.n_ctx_train, kDefaultMaxCtx) : kDefaultMaxCtx;
  }
  if (n_ctx < 2 || n_ctx > kMaxCtx) {
    return make_error(str_format("engine: context size %u must be in [2, %u]", n_ctx, kMaxCtx));
  }
  e->n_ctx_ = n_ctx;
  e->max_sequences_ = opts.max_sequences;
  e->prefill_chunk_ = opts.prefill_chunk;
  // Each sequence may grow to n_ctx tokens; size the pool so that every one of them can.
  KvCacheOptions kvo = e->model_->kv_options(n_ctx, opts.kv_dtype);
  if (kvo.block_tokens == 0) return make_error("engine: KV block size is 0");
  const uint64_t blocks_per_seq = (uint64_t{n_ctx} + kvo.block_tokens - 1) / kvo.block_tokens;
  const uint64_t n_blocks = blocks_per_seq * opts.max_sequences;
  if (n_blocks > UINT32_MAX) return make_error("engine: KV cache too large");
  kvo.n_blocks = static_cast<uint32_t>(n_blocks);
  DARI_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(kvo));
  e->kv_ = std::make_unique<KvCache>(std::move(kv));
  e->eog_.assign(cfg.n_vocab, 0);
  for (uint32_t t = 0; t < cfg.n_vocab; ++t) {
    e->eog_[t] = e->tokenizer_->is_end_of_generation(static_cast<TokenId>(t)) ? 1 : 0;
  }
  e->load_ms_ = ms_since(t0);
  return e;
}

uint32_t Engine::n_vocab() const { return model_->config().n_vocab; }

Result<std::vector<int32_t>> Engine::tokenize(std::string_view text, bool add_special,
                                              bool parse_special) const {
  EncodeOptions eo;
  eo.add_special = add_special;
  eo.parse_special = parse_special;
  return tokenizer_->encode(text, eo);
}

std::string Engine::detokenize(std::span<const int32_t> tokens) const {
  DecodeOptions d;
  d.render_special = true;
  auto r = tokenizer_->decode(tokens, d);
  return r.ok() ? std::move(r).value() : std::string();
}

bool Engine::is_eog(int32_t token) const {
  return token >= 0 && static_cast<size_t>(token) < eog_.size() &&
         eog_[static_cast<size_t>(token)] != 0;
}

std::string Engine::chat_template() const {
  auto r = model_->gguf().get_string_or("tokenizer.chat_template", "");
  return r.ok() ? std::move(r).value() : std::string();
}

Result<SeqId> Engine::create_sequence() {
  if (seqs_.size() >= max_sequences_) {
    return make_error(str_format("engine: all %u sequences are in use", max_sequences_));
  }
  const SeqId id = kv_->add_sequence();
  seqs_[id] = {};
  return id;
}

void Engine::free_sequence(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  kv_->free_sequence(seq);
  seqs_.erase(it);
}

const std::vector<int32_t>& Engine::sequence_tokens(SeqId seq) const {
  static const std::vector<int32_t> kEmpty;
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? kEmpty : it->second;
}

// Runs `tokens` through the model in chunks, appending them to seq; the logits of the last token
// end up in logits_.
Status Engine::prefill(SeqId seq, std::span<const int32_t> tokens,
                       const std::atomic<bool>* cancel, bool* cancelled) {
  *cancelled = false;
  auto& stored = seqs_[seq];
  size_t done = 0;
  ForwardBatch batch;
  while (done < tokens.size()) {
    if (cancelled_now(cancel)) {
      *cancelled = true;
      return Status::Ok();
    }
    const size_t n = std::min<size_t>(prefill_chunk_, tokens.size() - done);
    const bool last_chunk = done + n == tokens.size();
    const uint32_t base = kv_->length(seq);
    batch.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(done),
                        tokens.begin() + static_cast<std::ptrdiff_t>(done + n));
    batch.positions.resize(n);
    batch.seq_ids.assign(n, seq);
    batch.need_logits.assign(n, 0);
    for (size_t i = 0; i < n; ++i) batch.positions[i] = static_cast<int32_t>(base + i);
    if (last_chunk) batch.need_logits[n - 1] = 1;
    DARI_TRY(kv_->reserve(seq, static_cast<uint32_t>(n)));
    DARI_TRY(model_->forward(batch, *kv_, &logits_));
    kv_->commit(seq, static_cast<uint32_t>(n));
    stored.insert(stored.end(), batch.tokens.begin(), batch.tokens.end());
    done += n;
  }
  if (logits_.size() != n_vocab()) {
    return make_error(str_format("engine: model returned %zu logits, expected %u",
                                 logits_.size(), n_vocab()));
  }
  return Status::Ok();
}

Status Engine::decode_one(SeqId seq, int32_t token) {
  bool cancelled = false;
  return prefill(seq, std::span<const int32_t>(&token, 1), nullptr, &cancelled);
}

namespace {

Status validate_generate(std::span<const int32_t> prompt, const GenerateOptions& opts,
                         uint32_t n_ctx, uint32_t n_vocab) {
  if (prompt.empty()) return make_error("engine: the prompt is empty (no tokens)");
  if (prompt.size() >= n_ctx) {
    return make_error(str_format("engine: the prompt has %zu tokens but the context holds %u "
                                 "(the prompt must leave room for at least one new token; "
                                 "raise the context size)",
                                 prompt.size(), n_ctx));
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || static_cast<uint32_t>(prompt[i]) >= n_vocab) {
      return make_error(str_format("engine: prompt token %zu has id %d, outside [0, %u)", i,
                                   prompt[i], n_vocab));
    }
  }
  if (opts.max_tokens < -1) {
    return make_error(str_format("engine: max_tokens must be >= -1, got %d", opts.max_tokens));
  }
  for (const auto& s : opts.stop) {
    if (s.empty()) return make_error("engine: stop strings must not be empty");
  }
  return Status::Ok();
}

}  // namespace

Result<GenerationResult> Engine::generate(SeqId seq, std::span<const int32_t> prompt,
                                          const GenerateOptions& opts,
                                          const TokenCallback& on_token) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return make_error(str_format("engine: unknown sequence %d", seq));
  DARI_TRY(validate_generate(prompt, opts, n_ctx_, n_vocab()));
  DARI_ASSIGN_OR_RETURN(Sampler sampler, Sampler::create(opts.sampling, n_vocab()));

  GenerationResult res;
  res.timings.prompt_tokens = static_cast<uint32_t>(prompt.size());
  // Reuse the common prefix; the last prompt token is always recomputed for its logits.
  std::vector<int32_t>& stored = it->second;
  size_t keep = 0;
  while (keep < stored.size() && keep < prompt.size() && stored[keep] == prompt[keep]) ++keep;
  keep = std::min(keep, prompt.size() - 1);
  kv_->truncate(seq, static_cast<uint32_t>(keep));
  stored.resize(keep);
  res.timings.cached_tokens = static_cast<uint32_t>(keep);

  const auto t_prompt = std::chrono::steady_clock::now();
  bool cancelled = false;
  DARI_TRY(prefill(seq, prompt.subspan(keep), opts.cancel, &cancelled));
  res.timings.prompt_ms = ms_since(t_prompt);
  if (cancelled) {
    res.finish = FinishReason::kCancelled;
    return res;
  }
  sampler.accept_prompt(prompt);

  const auto t_gen = std::chrono::steady_clock::now();
  ChoiceOptions co;
  co.tokenizer = tokenizer_.get();
  co.stop = opts.stop;
  co.eog = eog_;
  co.ignore_eog = opts.ignore_eog;
  co.max_tokens = opts.max_tokens;
  co.prompt_tokens = static_cast<uint32_t>(prompt.size());  // the whole context (< n_ctx_)
  co.n_ctx = n_ctx_;
  co.cancel = opts.cancel;
  ChoiceState choice(std::move(co));
  while (!choice.length_reached()) {
    DARI_ASSIGN_OR_RETURN(SampledToken st, sampler.sample(logits_));
    sampler.accept(st.token);
    res.tokens.push_back(st.token);
    DARI_ASSIGN_OR_RETURN(ChoiceStep step, choice.push(st.token));
    TokenEvent ev;
    ev.token = st.token;
    ev.text = std::move(step.text);
    ev.logprob = st.logprob;
    ev.top_logprobs = std::move(st.top);
    ev.finish = step.finish;
    res.finish = step.finish;
    res.stop_string = std::move(step.stop_string);
    res.text += ev.text;
    if (on_token) on_token(ev);
    if (res.finish != FinishReason::kNone) break;
    DARI_TRY(decode_one(seq, st.token));
  }
  if (res.finish == FinishReason::kNone) res.finish = FinishReason::kLength;  // max_tokens == 0
  res.timings.generated_tokens = static_cast<uint32_t>(res.tokens.size());
  res.timings.generation_ms = ms_since(t_gen);
  return res;
}

}  // namespace dari
