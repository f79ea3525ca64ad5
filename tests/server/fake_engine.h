// FakeEngine: a deterministic ServingEngine for the server tests (no model).
//
// Every choice generates `tokens` tokens with text "w<k> " (k = 0, 1, ...) and then kDone(kLength
// when max_tokens cut it, else kStop); `hold` keeps requests running until cancelled. One worker
// thread plays the engine thread and pushes one token per live choice every `step`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "dari/engine/serving.h"
#include "dari/model/model.h"
#include "dari/sampling/sampler.h"
#include "dari/tokenizer/tokenizer.h"

namespace dari::server::test {

// The default model's vocabulary (models/dari-tiny.gguf), for a FakeEngine; aborts the test
// binary when it cannot be read. DARI_SOURCE_DIR is the source tree (a compile definition).
inline Tokenizer tiny_tokenizer() {
  auto t = Tokenizer::open(std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf");
  if (!t.ok()) {
    std::fprintf(stderr, "tiny_tokenizer: %s\n", t.message().c_str());
    std::abort();
  }
  return std::move(t).value();
}

class FakeEngine : public ServingEngine {
 public:
  FakeEngine(Tokenizer tok, uint32_t n_ctx) : tok_(std::move(tok)), n_ctx_(n_ctx) {
    cfg_.n_vocab = static_cast<uint32_t>(tok_.n_tokens());
    cfg_.arch = "fake";
    worker_ = std::thread([this] { loop(); });
  }
  ~FakeEngine() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
    for (auto& [id, r] : live_) r.stream->finish();
  }

  std::atomic<uint32_t> tokens{5};
  std::atomic<bool> hold{false};
  std::atomic<uint32_t> max_live{1000};
  std::chrono::milliseconds step{1};

  SubmitResult submit(ServingRequest req) override {
    SubmitResult res;
    // The checks a real engine makes (ServingCore::validate), which the server relies on.
    for (int32_t t : req.prompt) {
      if (t < 0 || static_cast<uint32_t>(t) >= cfg_.n_vocab) {
        res.error = SubmitError::kInvalid;
        res.param = "prompt";
        res.message = "prompt: token id " + std::to_string(t) + " is outside the vocabulary";
        return res;
      }
    }
    if (req.prompt.size() >= n_ctx_) {
      res.error = SubmitError::kTooLong;
      res.param = "prompt";
      res.message = "prompt: too long";
      return res;
    }
    if (Status sp = validate_sampling_params(req.sampling, cfg_.n_vocab); !sp.ok()) {
      res.error = SubmitError::kInvalid;
      res.param = "sampling";
      res.message = sp.message();
      return res;
    }
    std::lock_guard<std::mutex> l(mu_);
    if (shutting_down_) {
      res.error = SubmitError::kShuttingDown;
      res.message = "shutting down";
      return res;
    }
    if (live_.size() >= max_live.load()) {
      res.error = SubmitError::kQueueFull;
      res.message = "queue full";
      return res;
    }
    last_ = req;
    ++submitted_;
    Live lv;
    lv.stream = std::make_shared<Stream>(next_id_++);
    lv.req = std::move(req);
    lv.produced.assign(lv.req.n, 0);
    lv.done.assign(lv.req.n, false);
    res.stream = lv.stream;
    live_.emplace(lv.stream->id(), std::move(lv));
    cv_.notify_all();
    return res;
  }
  void cancel(uint64_t id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return;
    ++cancelled_;
    end(it->second, FinishReason::kCancelled);
    live_.erase(it);
  }
  ServingStats stats() const override {
    std::lock_guard<std::mutex> l(mu_);
    ServingStats s;
    s.running = static_cast<uint32_t>(live_.size());
    s.kv_blocks_total = 64;
    s.kv_blocks_used = static_cast<uint32_t>(live_.size());
    s.requests_cancelled = cancelled_;
    s.requests_finished = finished_;
    return s;
  }
  void shutdown(bool drain) override {
    std::unique_lock<std::mutex> l(mu_);
    shutting_down_ = true;
    if (!drain) {
      for (auto& [id, r] : live_) end(r, FinishReason::kCancelled);
      live_.clear();
    }
  }
  const Tokenizer& tokenizer() const override { return tok_; }
  const ModelConfig& model_config() const override { return cfg_; }
  uint32_t n_ctx() const override { return n_ctx_; }
  std::string chat_template() const override { return ""; }
  const std::string& model_path() const override { return path_; }
  double load_ms() const override { return 0.0; }

  ServingRequest last_request() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_;
  }
  uint64_t submitted() const {
    std::lock_guard<std::mutex> l(mu_);
    return submitted_;
  }

 private:
  struct Live {
    std::shared_ptr<Stream> stream;
    ServingRequest req;
    std::vector<uint32_t> produced;
    std::vector<bool> done;
  };

  void end(Live& r, FinishReason why) {
    for (uint32_t i = 0; i < r.req.n; ++i) {
      if (r.done[i]) continue;
      StreamEvent ev;
      ev.kind = StreamEvent::Kind::kDone;
      ev.index = i;
      ev.finish = why;
      ev.timings.prompt_tokens = static_cast<uint32_t>(r.req.prompt.size());
      ev.timings.generated_tokens = r.produced[i];
      r.stream->push(std::move(ev));
      r.done[i] = true;
    }
    r.stream->finish();
  }

  void loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      cv_.wait_for(l, step);
      for (auto it = live_.begin(); it != live_.end();) {
        Live& r = it->second;
        bool all_done = true;
        for (uint32_t i = 0; i < r.req.n; ++i) {
          if (r.done[i]) continue;
          const uint32_t limit =
              r.req.max_tokens >= 0
                  ? std::min<uint32_t>(tokens, static_cast<uint32_t>(r.req.max_tokens))
                  : tokens.load();
          if (r.produced[i] < limit || hold.load()) {
            StreamEvent ev;
            ev.index = i;
            ev.token.token = static_cast<int32_t>(r.produced[i] % 50 + 10);
            ev.token.text = "w" + std::to_string(r.produced[i]) + " ";
            if (r.req.sampling.n_logprobs >= 0) {
              ev.token.logprob = -0.5f;
              for (int32_t k = 0; k < r.req.sampling.n_logprobs; ++k) {
                ev.token.top_logprobs.push_back({k + 10, -1.0f - static_cast<float>(k)});
              }
            }
            ++r.produced[i];
            r.stream->push(std::move(ev));
            all_done = false;
            continue;
          }
          StreamEvent ev;
          ev.kind = StreamEvent::Kind::kDone;
          ev.index = i;
          ev.finish = r.req.max_tokens >= 0 && limit == static_cast<uint32_t>(r.req.max_tokens)
                          ? FinishReason::kLength
                          : FinishReason::kStop;
          ev.timings.prompt_tokens = static_cast<uint32_t>(r.req.prompt.size());
          ev.timings.generated_tokens = r.produced[i];
          ev.timings.generation_ms = 1.0 * r.produced[i];
          r.stream->push(std::move(ev));
          r.done[i] = true;
        }
        if (all_done) {
          r.stream->finish();
          ++finished_;
          it = live_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  Tokenizer tok_;
  ModelConfig cfg_;
  uint32_t n_ctx_;
  std::string path_ = "fake.gguf";
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Live> live_;
  ServingRequest last_;
  uint64_t next_id_ = 1;
  uint64_t submitted_ = 0;
  uint64_t cancelled_ = 0;
  uint64_t finished_ = 0;
  bool stop_ = false;
  bool shutting_down_ = false;
  std::thread worker_;
};

}  // namespace dari::server::test
