// llama-bench-style pp / tg measurement on Model::forward + KvCache.
#include "dari/perf/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <random>

#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "dari/model/model.h"

namespace dari::perf {
namespace {

using Clock = std::chrono::steady_clock;

std::string mix_name(const GgufFile& f) {
  auto ft = f.get_u32_or("general.file_type", 1024);
  if (ft.ok()) {
    switch (*ft) {
      case 0:
        return "F32";
      case 1:
        return "F16";
      case 2:
        return "Q4_0";
      case 7:
        return "Q8_0";
      case 15:
        return "Q4_K_M";
      case 17:
        return "Q5_K_M";
      case 18:
        return "Q6_K";
      case 32:
        return "BF16";
      default:
        break;
    }
  }
  // Unknown: the type holding the most matrix bytes.
  std::map<GgmlType, uint64_t> bytes;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.n_dims >= 2) bytes[t.type] += t.n_bytes;
  }
  GgmlType best = GgmlType::F32;
  uint64_t most = 0;
  for (const auto& [type, n] : bytes) {
    if (n > most) most = n, best = type;
  }
  return std::string(ggml_type_name(best));
}

void mean_sd(const std::vector<double>& v, double* mean, double* sd) {
  double s = 0;
  for (double x : v) s += x;
  *mean = v.empty() ? 0 : s / static_cast<double>(v.size());
  double q = 0;
  for (double x : v) q += (x - *mean) * (x - *mean);
  *sd = v.size() > 1 ? std::sqrt(q / static_cast<double>(v.size() - 1)) : 0;
}

// One bench session: a loaded model and a KV cache big enough for the largest test.
class Runner {
 public:
  Runner(Model& m, KvCache& kv, uint64_t seed) : m_(m), kv_(kv), rng_(seed) {}

  // Feeds n random tokens from an empty cache; pp when ubatch > 1, tg (one at a time) when 1.
  Result<double> run(uint32_t n, uint32_t ubatch) {
    if (seq_ >= 0) kv_.free_sequence(seq_);
    seq_ = kv_.add_sequence();
    std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(m_.config().n_vocab) - 1);
    std::vector<float> logits;
    const auto t0 = Clock::now();
    for (uint32_t done = 0; done < n;) {
      const uint32_t k = std::min(ubatch, n - done);
      ForwardBatch b;
      for (uint32_t i = 0; i < k; ++i) {
        b.tokens.push_back(tok(rng_));
        b.positions.push_back(static_cast<int32_t>(done + i));
        b.seq_ids.push_back(seq_);
        b.need_logits.push_back(i + 1 == k ? 1 : 0);
      }
      DARI_TRY(kv_.reserve(seq_, k));
      DARI_TRY(m_.forward(b, kv_, &logits));
      kv_.commit(seq_, k);
      done += k;
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }

 private:
  Model& m_;
  KvCache& kv_;
  std::mt19937_64 rng_;
  SeqId seq_ = -1;
};

}  // namespace

Result<ModelFacts> model_facts(const std::string& path) {
  DARI_ASSIGN_OR_RETURN(GgufFile f, GgufFile::open(path));
  ModelFacts m;
  m.path = path;
  m.file_bytes = f.file_size();
  m.type_name = mix_name(f);
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  const bool tied = f.find_tensor("output.weight") == nullptr;
  for (const GgufTensorInfo& t : f.tensors()) {
    m.n_params += t.n_elements;
    m.tensor_bytes += t.n_bytes;
    if (&t != embd) m.decode_bytes_per_token += t.n_bytes;
  }
  if (embd != nullptr) {
    m.decode_bytes_per_token +=
        embd->n_bytes / std::max<uint64_t>(1, embd->n_elements / embd->ne[0]);
    if (tied) m.decode_bytes_per_token += embd->n_bytes;
  }
  DARI_ASSIGN_OR_RETURN(std::string arch, f.get_string_or("general.architecture", "?"));
  const double p = static_cast<double>(m.n_params);
  m.desc = arch + " " + (p >= 1e9 ? str_format("%.1fB", p / 1e9) : str_format("%.0fM", p / 1e6)) +
           " " + m.type_name;
  return m;
}

namespace {

// The bench table's backend column: the distinct devices the layers ran on, device first.
std::string placement_name(const ModelPlacement& p) {
  std::vector<std::string> names;
  for (auto it = p.layers.rbegin(); it != p.layers.rend(); ++it) {
    const std::string n = *it == "cpu" ? "CPU" : *it;
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : "+") + n;
  return out.empty() ? "CPU" : out;
}

}  // namespace

Result<BenchReport> run_model_bench(const BenchOptions& o,
                                    const std::function<void(const BenchSample&)>& on_test) {
  BenchReport rep;
  DARI_ASSIGN_OR_RETURN(rep.model, model_facts(o.model_path));
  uint32_t max_tokens = 1;
  for (uint32_t p : o.n_prompt) max_tokens = std::max(max_tokens, p);
  for (uint32_t n : o.n_gen) max_tokens = std::max(max_tokens, n);
  const uint32_t ubatch = std::max(1u, o.ubatch);
  const uint32_t reps = std::max(1u, o.reps);
  bool first_load = true;
  for (uint32_t th : o.threads) {
    ModelLoadOptions lo;
    lo.n_threads = th;
    lo.repack = o.repack;
    lo.profile = o.profile;
    lo.backend = o.backend;
    lo.n_gpu_layers = o.n_gpu_layers;
    const auto t0 = Clock::now();
    auto model = Model::load(o.model_path, lo);
    if (!model.ok()) return make_error(model.message());
    if (first_load) {
      rep.model.load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      first_load = false;
    }
    Model& m = **model;
    rep.model.backend = placement_name(m.placement());
    DARI_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(m.kv_options(max_tokens + 16)));
    Runner runner(m, kv, o.seed);
    std::vector<BenchTest> tests;
    for (uint32_t p : o.n_prompt) {
      if (p > 0) tests.push_back({p, 0, th});
    }
    for (uint32_t n : o.n_gen) {
      if (n > 0) tests.push_back({0, n, th});
    }
    for (const BenchTest& t : tests) {
      const bool pp = t.n_prompt > 0;
      const uint32_t n = pp ? t.n_prompt : t.n_gen;
      DARI_TRY(runner.run(pp ? std::min(n, 32u) : 1, pp ? ubatch : 1));  // warm-up
      BenchSample s;
      s.test = t;
      s.backend = rep.model.backend;
      m.reset_op_profile();  // the timed repetitions only
      std::vector<double> tps;
      for (uint32_t r = 0; r < reps; ++r) {
        DARI_ASSIGN_OR_RETURN(double sec, runner.run(n, pp ? ubatch : 1));
        s.seconds.push_back(sec);
        tps.push_back(sec > 0 ? n / sec : 0);
      }
      mean_sd(tps, &s.mean_tps, &s.sd_tps);
      s.profile = m.op_profile();
      if (!pp) s.gbps = static_cast<double>(rep.model.decode_bytes_per_token) * s.mean_tps / 1e9;
      if (on_test) on_test(s);
      rep.tests.push_back(std::move(s));
    }
  }
  rep.rss = peak_rss();
  return rep;
}

}  // namespace dari::perf
