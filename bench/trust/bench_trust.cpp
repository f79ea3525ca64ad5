// Per-request cost of the trust layer: authorize, sign the provenance, append the audit record
// (durable commit: WAL + synchronous=FULL). Compare with the time of one generation request.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include "dari/trust/trust.h"

namespace {

using namespace dari::trust;

const std::string kOutput(1024, 'o');  // about 250 tokens of text

TrustLayer& layer() {
  static std::unique_ptr<TrustLayer> t = [] {
    std::filesystem::path dir = std::filesystem::path(DARI_BENCH_DIR) / "bench-trust";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Policy p = default_policy();
    p.signing_key_file = (dir / "op.key").string();
    p.audit_db = (dir / "audit.db").string();
    p.keys_db = (dir / "keys.db").string();
    auto r = TrustLayer::open(p);
    if (!r.ok()) std::abort();
    return std::move(*r);
  }();
  return *t;
}

AuditRecord record_for(int64_t i) {
  AuditRecord r;
  r.request_id = "bench-" + std::to_string(i);
  r.client = "127.0.0.1";
  r.endpoint = "/v1/chat/completions";
  r.model = "dari-tiny";
  r.model_sha256 = std::string(64, 'a');
  r.sampling_json = "{\"temperature\":0.7,\"seed\":1}";
  r.prompt = "a prompt of moderate length for the benchmark";
  r.output = kOutput;
  r.prompt_tokens = 12;
  r.completion_tokens = 250;
  return r;
}

void BM_Sign(benchmark::State& state) {
  TrustLayer& t = layer();
  ProvenanceFacts f{"dari-tiny", std::string(64, 'a'), "r", 1};
  for (auto _ : state) benchmark::DoNotOptimize(t.sign(f, kOutput));
}
BENCHMARK(BM_Sign)->Threads(1)->Threads(8)->UseRealTime();

void BM_Authorize(benchmark::State& state) {
  TrustLayer& t = layer();
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.authorize({"", "127.0.0.1", kScopeInfer, "/v1/chat/completions"}));
  }
}
BENCHMARK(BM_Authorize);

void BM_AuditRecord(benchmark::State& state) {
  TrustLayer& t = layer();
  int64_t i = 0;
  for (auto _ : state) {
    if (!t.record(record_for(i++)).ok()) state.SkipWithError("record failed");
  }
}
BENCHMARK(BM_AuditRecord)->Threads(1)->Threads(8)->UseRealTime();

// Everything one request adds: authorize + sign + audit record.
void BM_PerRequest(benchmark::State& state) {
  TrustLayer& t = layer();
  ProvenanceFacts f{"dari-tiny", std::string(64, 'a'), "r", 1};
  int64_t i = 0;
  for (auto _ : state) {
    auto d = t.authorize({"", "127.0.0.1", kScopeInfer, "/v1/chat/completions"});
    Provenance p = t.sign(f, kOutput);
    AuditRecord r = record_for(i++);
    r.output_signature = p.signature;
    if (!t.record(std::move(r)).ok()) state.SkipWithError("record failed");
  }
}
BENCHMARK(BM_PerRequest)->Threads(1)->Threads(8)->UseRealTime();

// The non-blocking path for RequestSession::finish: queue + group commit, flushed per batch
// of iterations so the measured time includes the commits.
void BM_PerRequestAsync(benchmark::State& state) {
  TrustLayer& t = layer();
  ProvenanceFacts f{"dari-tiny", std::string(64, 'a'), "r", 1};
  int64_t i = 0;
  for (auto _ : state) {
    auto d = t.authorize({"", "127.0.0.1", kScopeInfer, "/v1/chat/completions"});
    Provenance p = t.sign(f, kOutput);
    AuditRecord r = record_for(i++);
    r.output_signature = p.signature;
    t.record_async(std::move(r));
    if (i % 64 == 0 && !t.flush().ok()) state.SkipWithError("flush failed");
  }
  if (!t.flush().ok()) state.SkipWithError("flush failed");
}
BENCHMARK(BM_PerRequestAsync)->Threads(1)->Threads(8)->UseRealTime();

void BM_VerifyProvenance(benchmark::State& state) {
  TrustLayer& t = layer();
  Provenance p = t.sign({"dari-tiny", std::string(64, 'a'), "r", 1}, kOutput);
  for (auto _ : state) benchmark::DoNotOptimize(verify_provenance(p, kOutput, "").intact);
}
BENCHMARK(BM_VerifyProvenance);

void BM_RedactPii(benchmark::State& state) {
  std::string text;
  for (int i = 0; i < 16; ++i) text += "contact kim@example.com or 010-1234-5678 about it. ";
  for (auto _ : state) benchmark::DoNotOptimize(redact_pii(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_RedactPii);

}  // namespace
