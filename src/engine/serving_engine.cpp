// ServingEngine::start: model loading, KV pool sizing, and the engine thread around ServingCore.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "dari/core/strings.h"
#include "dari/engine/serving.h"
#include "dari/model/model.h"
#include "dari/tokenizer/tokenizer.h"
#include "engine/serving_core.h"

namespace dari {
namespace {

constexpr uint32_t kDefaultMaxCtx = 4096;
constexpr uint32_t kMaxCtx = 1u << 20;

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

// Embedding pooling from GGUF `<arch>.pooling_type` (llama.cpp's numbering: 0 none, 1 mean,
// 2 cls, 3 last, 4 rank). One vector per input is what the API returns, so none, rank, a missing
// key or an unreadable value mean mean pooling.
EmbedPooling model_pooling(const Model& m) {
  auto t = m.gguf().get_u32_or(m.config().arch + ".pooling_type", 1);
  if (!t.ok()) return EmbedPooling::kMean;
  switch (*t) {
    case 2:
      return EmbedPooling::kCls;
    case 3:
      return EmbedPooling::kLast;
    default:
      return EmbedPooling::kMean;
  }
}

class ServingEngineImpl final : public ServingEngine {
 public:
  ServingEngineImpl() = default;
  ~ServingEngineImpl() override { shutdown(false); }

  Status init(const ServingOptions& opts);
  SubmitResult submit(ServingRequest req) override;
  void cancel(uint64_t id) override;
  ServingStats stats() const override;
  std::vector<OpProfile> op_profile() const override {
    std::lock_guard<std::mutex> join_lock(join_mu_);
    if (thread_.joinable()) return {};  // still running: the engine thread owns the model
    return model_->op_profile();
  }
  void shutdown(bool drain) override;

  const Tokenizer& tokenizer() const override { return *tok_; }
  const ModelConfig& model_config() const override { return model_->config(); }
  uint32_t n_ctx() const override { return n_ctx_; }
  std::string chat_template() const override { return chat_template_; }
  const std::string& model_path() const override { return path_; }
  double load_ms() const override { return load_ms_; }

 private:
  struct Pending {
    uint64_t id;
    ServingRequest req;
    std::shared_ptr<Stream> stream;
    double submit_ms;
  };
  void run();

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<serving::ServingCore> core_;
  std::string path_, chat_template_;
  double load_ms_ = 0;
  uint32_t n_ctx_ = 0, max_waiting_ = 0;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_, idle_cv_;
  std::vector<Pending> inbox_;
  std::vector<uint64_t> cancels_;
  bool accepting_ = true, cancel_all_ = false, stop_ = false, core_idle_ = true;
  ServingStats stats_;
  std::atomic<uint64_t> next_id_{1};
  mutable std::mutex join_mu_;  // serialises shutdown() and op_profile() against the join
  std::thread thread_;
};

Status ServingEngineImpl::init(const ServingOptions& opts) {
  const double t0 = now_ms();
  if (opts.model_path.empty()) return make_error("serving: no model path given");
  if (opts.max_running == 0 || opts.step_tokens < opts.max_running) {
    return make_error(str_format("serving: need 1 <= max_running (%u) <= step_tokens (%u)",
                                 opts.max_running, opts.step_tokens));
  }
  if (opts.kv_dtype != GgmlType::F16 && opts.kv_dtype != GgmlType::F32) {
    return make_error("serving: KV cache dtype must be F16 or F32");
  }
  path_ = opts.model_path;
  max_waiting_ = opts.max_waiting;
  ModelLoadOptions mo;
  mo.n_threads = opts.n_threads;
  mo.repack = opts.repack;
  mo.profile = opts.profile;
  mo.backend = opts.backend;
  mo.n_gpu_layers = opts.n_gpu_layers;
  mo.kv_dtype = opts.kv_dtype;
  DARI_ASSIGN_OR_RETURN(model_, Model::load(opts.model_path, mo));
  auto tok = Tokenizer::from_gguf(model_->gguf());
  if (!tok.ok()) return make_error(opts.model_path + ": tokenizer: " + tok.message());
  tok_ = std::make_unique<Tokenizer>(std::move(tok).value());
  const ModelConfig& cfg = model_->config();
  if (tok_->n_tokens() != cfg.n_vocab) {
    return make_error(str_format("%s: tokenizer has %zu tokens but the model's vocabulary has %u",
                                 opts.model_path.c_str(), tok_->n_tokens(), cfg.n_vocab));
  }
  n_ctx_ = opts.n_ctx != 0       ? opts.n_ctx
           : cfg.n_ctx_train > 0 ? std::min(cfg.n_ctx_train, kDefaultMaxCtx)
                                 : kDefaultMaxCtx;
  if (n_ctx_ < 2 || n_ctx_ > kMaxCtx) {
    return make_error(str_format("serving: context size %u must be in [2, %u]", n_ctx_, kMaxCtx));
  }
  auto cr = model_->gguf().get_string_or("tokenizer.chat_template", "");
  chat_template_ = cr.ok() ? std::move(cr).value() : std::string();

  // KV pool: bytes wins over tokens; default one full context per running sequence.
  KvCacheOptions kvo = model_->kv_options(n_ctx_, opts.kv_dtype);
  kvo.prefix_cache = opts.prefix_cache;
  const uint64_t elem = opts.kv_dtype == GgmlType::F16 ? 2 : 4;
  const uint64_t token_bytes = 2ull * kvo.n_layers * kvo.n_kv_heads * kvo.head_dim * elem;
  uint64_t tokens = uint64_t{n_ctx_} * opts.max_running;
  if (opts.kv_bytes != 0) {
    tokens = opts.kv_bytes / token_bytes;
  } else if (opts.kv_tokens != 0) {
    tokens = opts.kv_tokens;
  }
  const uint64_t bt = kvo.block_tokens;
  const uint64_t blocks = opts.kv_bytes != 0 ? tokens / bt : (tokens + bt - 1) / bt;
  const uint64_t need = (uint64_t{n_ctx_} + bt - 1) / bt;
  if (blocks < need) {
    return make_error(str_format(
        "serving: the KV budget holds %llu tokens (%s) but one full-context sequence needs %u "
        "tokens (%s at %s per token); raise the KV budget or lower the context size",
        static_cast<unsigned long long>(blocks * bt),
        human_bytes(blocks * bt * token_bytes).c_str(), n_ctx_,
        human_bytes(need * bt * token_bytes).c_str(), human_bytes(token_bytes).c_str()));
  }
  if (blocks > INT32_MAX / bt) return make_error("serving: KV budget too large");
  kvo.n_blocks = static_cast<uint32_t>(blocks);
  std::error_code ec;
  const uint64_t model_bytes = std::filesystem::file_size(opts.model_path, ec);
  // Layers whose KV the model places in device memory (kv_options) do not count against RAM.
  uint64_t host_layers = kvo.n_layers;
  for (const auto& be : kvo.layer_backends) host_layers -= be != nullptr ? 1 : 0;
  const uint64_t kv_total = blocks * bt * token_bytes / std::max(1u, kvo.n_layers) * host_layers;
  const uint64_t phys = physical_memory();
  if (!ec && phys != 0 && model_bytes + kv_total > phys) {
    return make_error(
        str_format("serving: the model (%s) plus the KV cache (%s) exceed physical "
                   "memory (%s); lower the KV budget or the context size",
                   human_bytes(model_bytes).c_str(), human_bytes(kv_total).c_str(),
                   human_bytes(phys).c_str()));
  }
  DARI_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(kvo));

  serving::CoreOptions co;
  co.n_ctx = n_ctx_;
  co.n_vocab = cfg.n_vocab;
  co.sched.step_tokens = opts.step_tokens;
  co.sched.max_running = opts.max_running;
  co.tokenizer = tok_.get();
  co.eog.assign(cfg.n_vocab, 0);
  for (uint32_t t = 0; t < cfg.n_vocab; ++t) {
    co.eog[t] = tok_->is_end_of_generation(static_cast<TokenId>(t)) ? 1 : 0;
  }
  co.n_embd = cfg.n_embd;
  co.default_pooling = model_pooling(*model_);
  Model* m = model_.get();
  core_ = std::make_unique<serving::ServingCore>(
      std::move(co), std::move(kv),
      [m](const ForwardBatch& b, KvCache& c, std::vector<float>* l, std::vector<float>* h) {
        return m->forward_hidden(b, c, l, h);
      });
  core_->fill_stats(&stats_);
  load_ms_ = now_ms() - t0;
  thread_ = std::thread([this] { run(); });
  return Status::Ok();
}

SubmitResult ServingEngineImpl::submit(ServingRequest req) {
  SubmitResult res;
  res.error = core_->validate(req, &res.message, &res.param);
  if (res.error != SubmitError::kNone) return res;
  const double t = now_ms();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_) {
      res.error = SubmitError::kShuttingDown;
      res.message = "the engine is shutting down";
      return res;
    }
    if (inbox_.size() + stats_.waiting >= max_waiting_) {
      res.error = SubmitError::kQueueFull;
      res.message = str_format("queue full: %u requests waiting", max_waiting_);
      return res;
    }
    res.stream = std::make_shared<Stream>(next_id_.fetch_add(1));
    inbox_.push_back(Pending{res.stream->id(), std::move(req), res.stream, t});
  }
  cv_.notify_all();
  return res;
}

void ServingEngineImpl::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancels_.push_back(id);
  }
  cv_.notify_all();
}

ServingStats ServingEngineImpl::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ServingEngineImpl::shutdown(bool drain) {
  std::lock_guard<std::mutex> join_lock(join_mu_);
  {
    std::unique_lock<std::mutex> lock(mu_);
    accepting_ = false;
    if (!drain) cancel_all_ = true;
    cv_.notify_all();
    if (thread_.joinable()) {
      idle_cv_.wait(lock, [this] { return core_idle_ && inbox_.empty(); });
    }
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ServingEngineImpl::run() {
  uint64_t last_steps = 0;
  bool stalled = false;
  for (;;) {
    std::vector<Pending> in;
    std::vector<uint64_t> cancels;
    bool cancel_all = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [this, stalled] {
        return stop_ || cancel_all_ || !inbox_.empty() || !cancels_.empty() ||
               (!core_idle_ && !stalled);
      };
      if (stalled) {
        cv_.wait_for(lock, std::chrono::milliseconds(2), ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stop_ && core_idle_ && inbox_.empty()) break;
      in.swap(inbox_);
      cancels.swap(cancels_);
      cancel_all = cancel_all_;
      cancel_all_ = false;
    }
    for (auto& p : in) core_->add(p.id, std::move(p.req), std::move(p.stream), p.submit_ms);
    for (uint64_t id : cancels) core_->cancel(id);
    if (cancel_all) core_->cancel_all();
    if (!core_->idle()) (void)core_->step();  // model errors end the batch's requests
    std::lock_guard<std::mutex> lock(mu_);
    core_->fill_stats(&stats_);
    stalled = !core_->idle() && stats_.steps == last_steps;
    last_steps = stats_.steps;
    core_idle_ = core_->idle();
    if (core_idle_ && inbox_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace

Result<std::unique_ptr<ServingEngine>> ServingEngine::start(const ServingOptions& opts) {
  auto e = std::make_unique<ServingEngineImpl>();
  DARI_TRY(e->init(opts));
  return std::unique_ptr<ServingEngine>(std::move(e));
}

}  // namespace dari
