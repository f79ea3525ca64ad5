// Matrix-vector throughput of the dari_simd kernels at TinyLlama-1.1B shapes, single thread,
// as GB/s of weight bytes streamed, next to a memory-read probe (the roofline) in the same run.
// Every benchmark reports pct_of_probe = its weight GB/s / the probe's GB/s * 100.
//
// Weights cycle through a 1 GiB pool (several copies of each matrix) so every iteration reads
// them from DRAM, not from the caches. "scalar" is what the backend did before (one scalar
// vec_dot per output), "generic" the portable table through the blocked driver, then one entry
// per SIMD ISA the CPU has. Rates use thread CPU time (the framework's default), probe included.
// Single-threaded benchmark code.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/simd/packed.h"
#include "backend/cpu/simd/simd_kernels.h"
#include "dari/core/thread_pool.h"
#include "dari/tensor/dtype.h"

namespace {

using dari::GgmlType;
using dari::simd::Isa;

constexpr uint64_t kPoolBytes = uint64_t{1} << 30;

struct Pool {
  std::unique_ptr<uint8_t[]> data{new uint8_t[kPoolBytes]};
  bool filled = false;  // what the pool holds now: (type, k) rows, once filled
  GgmlType type = GgmlType::F32;
  int64_t k = 0;
};
Pool& pool() {
  static Pool p;
  return p;
}
double g_probe_bytes_per_s = 0.0;

uint64_t packed_row_bytes(GgmlType t, int64_t k) {
  const dari::TypeTraits* tr = dari::type_traits(t);
  return static_cast<uint64_t>(k / tr->block_elems) * tr->block_bytes;
}

// Fills the pool with rows of (type, k): 64 distinct quantised rows repeated.
void fill_pool(GgmlType t, int64_t k) {
  Pool& p = pool();
  if (p.filled && p.type == t && p.k == k) return;
  const uint64_t rb = packed_row_bytes(t, k);
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> f(static_cast<size_t>(k));
  std::vector<uint8_t> rows(rb * 64);
  for (int r = 0; r < 64; ++r) {
    for (float& v : f) v = dist(rng);
    dari::type_traits(t)->from_float(f.data(), rows.data() + rb * r, k);
  }
  for (uint64_t off = 0; off < kPoolBytes; off += rows.size()) {
    std::memcpy(p.data.get() + off, rows.data(), std::min<uint64_t>(rows.size(), kPoolBytes - off));
  }
  p.filled = true;
  p.type = t;
  p.k = k;
}

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Sum of n bytes as 64-bit lanes (n a multiple of 128): the probe. Four independent vector
// add chains over one sequential stream, with the widest loads the CPU has (AVX2 through a
// target attribute, checked at run time; SSE2 otherwise), so the loop is bound by memory, not
// by issue width, and measures what one streaming core can read.
#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t sum_bytes_avx2(const uint8_t* p, uint64_t n) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
  for (uint64_t i = 0; i < n; i += 128) {
    for (int u = 0; u < 4; ++u) {
      acc[u] = _mm256_add_epi64(
          acc[u], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32 * u)));
    }
  }
  const __m256i s =
      _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3]));
  uint64_t lanes[4];
  std::memcpy(lanes, &s, sizeof lanes);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
uint64_t sum_bytes_sse2(const uint8_t* p, uint64_t n) {
  __m128i acc[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(),
                    _mm_setzero_si128()};
  for (uint64_t i = 0; i < n; i += 64) {
    for (int u = 0; u < 4; ++u) {
      acc[u] =
          _mm_add_epi64(acc[u], _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16 * u)));
    }
  }
  const __m128i s = _mm_add_epi64(_mm_add_epi64(acc[0], acc[1]), _mm_add_epi64(acc[2], acc[3]));
  uint64_t lanes[2];
  std::memcpy(lanes, &s, sizeof lanes);
  return lanes[0] + lanes[1];
}
#endif

uint64_t sum_bytes(const uint8_t* p, uint64_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return sum_bytes_avx2(p, n);
  return sum_bytes_sse2(p, n);
#else
  uint64_t s = 0;
  for (uint64_t i = 0; i < n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, sizeof v);
    s += v;
  }
  return s;
#endif
}

void BM_ReadBandwidth(benchmark::State& state) {
  const uint8_t* buf = pool().data.get();
  if (!pool().filled) std::memset(pool().data.get(), 1, kPoolBytes);  // fault in
  // Thread CPU time, like the framework's default rates, so the ratios compare like with like
  // on a shared machine (stalls on memory count as CPU time; time off the CPU does not).
  const double t0 = thread_seconds();
  for (auto _ : state) benchmark::DoNotOptimize(sum_bytes(buf, kPoolBytes));
  const double secs = thread_seconds() - t0;
  g_probe_bytes_per_s =
      static_cast<double>(kPoolBytes) * static_cast<double>(state.iterations()) / secs;
  state.SetBytesProcessed(static_cast<int64_t>(kPoolBytes) * state.iterations());
}

// The same probe split over a ThreadPool of state.range(0) threads (wall time: the threads
// overlap). Stores its rate per thread count for the multi-threaded matvec ratios.
dari::ThreadPool& pool_of(int threads) {
  static dari::ThreadPool p1(1), p2(2), p4(4);
  return threads <= 1 ? p1 : threads == 2 ? p2 : p4;
}

void BM_ReadBandwidthMT(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const uint8_t* buf = pool().data.get();
  if (!pool().filled) std::memset(pool().data.get(), 1, kPoolBytes);
  dari::ThreadPool& tp = pool_of(threads);
  constexpr int64_t kChunk = 1 << 20;  // 1 MiB chunks, handed out dynamically
  for (auto _ : state) {
    std::atomic<uint64_t> sink{0};
    tp.parallel_for(static_cast<int64_t>(kPoolBytes / kChunk), 1, [&](int64_t b, int64_t e) {
      uint64_t s = 0;
      for (int64_t c = b; c < e; ++c)
        s += sum_bytes(buf + static_cast<uint64_t>(c) * kChunk, kChunk);
      sink += s;
    });
    benchmark::DoNotOptimize(sink.load());
  }
  state.SetBytesProcessed(static_cast<int64_t>(kPoolBytes) * state.iterations());
}

// Otherwise the Isa value; kAvx2Tiles is AVX2 with the row-group kernels off.
enum Impl : int { kScalar = -1, kAvx2Tiles = 100 };

// The ISA of an impl, with the group kernels switched as the impl asks (for the next calls).
Isa isa_of(int impl) {
  dari::simd::set_group_kernels_enabled(impl != kAvx2Tiles);
  return impl == kAvx2Tiles ? Isa::kAvx2 : static_cast<Isa>(impl);
}
bool impl_supported(int impl) {
  if (impl == kScalar) return true;
  return dari::simd::isa_supported(impl == kAvx2Tiles ? Isa::kAvx2 : static_cast<Isa>(impl));
}
const char* impl_name(int impl) {
  if (impl == kScalar) return "scalar";
  if (impl == kAvx2Tiles) return "avx2-tiles";
  return dari::simd::isa_name(static_cast<Isa>(impl));
}

// Args: weight type, rows (outputs), k (inputs), impl.
// The matmul arguments for `rows` weight rows of `type` against n_act activation rows.
dari::simd::MatmulArgs matmul_args(GgmlType type, int64_t k, const uint8_t* w, uint64_t rb,
                                   int64_t rows, const std::vector<uint8_t>& act,
                                   uint64_t act_stride, int64_t n_act, std::vector<float>& out) {
  dari::simd::MatmulArgs a;
  a.weight_type = type;
  a.k = k;
  a.weights = w;
  a.weight_stride = rb;
  a.row_end = rows;
  a.act = act.data();
  a.act_stride = act_stride;
  a.n_act = n_act;
  a.out = out.data();
  a.out_stride = rows;
  return a;
}

void BM_Matvec(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1);
  const int64_t k = state.range(2);
  const int impl = static_cast<int>(state.range(3));
  if (impl != kScalar && !dari::simd::isa_supported(isa_of(impl))) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  fill_pool(type, k);
  const uint64_t rb = packed_row_bytes(type, k);
  const uint64_t matrix = rb * static_cast<uint64_t>(rows);
  const uint64_t copies = std::max<uint64_t>(1, kPoolBytes / matrix);
  const GgmlType at = dari::simd::activation_type(type);
  std::vector<float> x(static_cast<size_t>(k), 0.5f);
  std::vector<uint8_t> act(packed_row_bytes(at, k));
  dari::type_traits(at)->from_float(x.data(), act.data(), k);
  std::vector<float> out(static_cast<size_t>(rows));
  const dari::TypeTraits* tr = dari::type_traits(type);
  uint64_t it = 0;
  for (auto _ : state) {
    const uint8_t* w = pool().data.get() + (it++ % copies) * matrix;
    if (impl == kScalar) {
      for (int64_t r = 0; r < rows; ++r)
        tr->vec_dot(k, w + rb * static_cast<uint64_t>(r), act.data(), &out[static_cast<size_t>(r)]);
    } else {
      dari::simd::MatmulArgs a = matmul_args(type, k, w, rb, rows, act, act.size(), 1, out);
      if (!dari::simd::matmul(a, isa_of(impl)).ok()) state.SkipWithError("matmul failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  const double bytes = static_cast<double>(matrix) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  if (g_probe_bytes_per_s > 0) {
    state.counters["pct_of_probe"] =
        benchmark::Counter(bytes / g_probe_bytes_per_s * 100.0, benchmark::Counter::kIsRate);
  }
  state.SetLabel(std::string(dari::ggml_type_name(type)) + " " + impl_name(impl));
}

// Matrix-vector product on the active ISA split over a ThreadPool like the CPU backend does
// (chunks of max(4, rows / (8 * threads)) rows). Args: weight type, rows, k, threads. Wall time.
void BM_MatvecMT(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1);
  const int64_t k = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  dari::simd::set_group_kernels_enabled(true);
  fill_pool(type, k);
  const uint64_t rb = packed_row_bytes(type, k);
  const uint64_t matrix = rb * static_cast<uint64_t>(rows);
  const uint64_t copies = std::max<uint64_t>(1, kPoolBytes / matrix);
  const GgmlType at = dari::simd::activation_type(type);
  std::vector<float> x(static_cast<size_t>(k), 0.5f);
  std::vector<uint8_t> act(packed_row_bytes(at, k));
  dari::type_traits(at)->from_float(x.data(), act.data(), k);
  std::vector<float> out(static_cast<size_t>(rows));
  dari::ThreadPool& tp = pool_of(threads);
  const int64_t grain = std::max<int64_t>(4, rows / (8 * static_cast<int64_t>(tp.size())));
  uint64_t it = 0;
  for (auto _ : state) {
    const uint8_t* w = pool().data.get() + (it++ % copies) * matrix;
    tp.parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      dari::simd::MatmulArgs a = matmul_args(type, k, w, rb, rows, act, act.size(), 1, out);
      a.row_begin = b;
      a.row_end = e;
      (void)dari::simd::matmul(a);
    });
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(matrix) * state.iterations());
  state.SetLabel(std::string(dari::ggml_type_name(type)) + " " +
                 dari::simd::isa_name(dari::simd::active_isa()) + " t" + std::to_string(threads));
}

// Prefill-shaped product: 2048x2048 weights (in cache-resident reuse) times kTokens activation
// rows; reports GFLOP/s (2 * rows * k * tokens per iteration). Shows the register-tile reuse.
void BM_Gemm(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int impl = static_cast<int>(state.range(1));
  const int64_t rows = 2048, k = 2048, tokens = 32;
  fill_pool(type, k);
  const uint64_t rb = packed_row_bytes(type, k);
  const GgmlType at = dari::simd::activation_type(type);
  std::vector<float> x(static_cast<size_t>(k * tokens), 0.25f);
  const uint64_t ab = packed_row_bytes(at, k);
  std::vector<uint8_t> act(ab * tokens);
  dari::type_traits(at)->from_float(x.data(), act.data(), k * tokens);
  std::vector<float> out(static_cast<size_t>(rows * tokens));
  const dari::TypeTraits* tr = dari::type_traits(type);
  const uint8_t* w = pool().data.get();
  for (auto _ : state) {
    if (impl == kScalar) {  // the backend's previous loop order: activation row outer
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          tr->vec_dot(k, w + rb * static_cast<uint64_t>(r),
                      act.data() + ab * static_cast<uint64_t>(t),
                      &out[static_cast<size_t>(t * rows + r)]);
        }
      }
    } else {
      dari::simd::MatmulArgs a = matmul_args(type, k, w, rb, rows, act, ab, tokens, out);
      if (!dari::simd::matmul(a, isa_of(impl)).ok()) state.SkipWithError("matmul failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * rows * k * tokens * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

// n_act rows of k normal(0, 1) values quantised to `at` (the activation type of a weight type),
// packed_row_bytes(at, k) bytes apart; the same values on every call.
std::vector<uint8_t> random_activations(GgmlType at, int64_t k, int64_t n_act) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(k * n_act));
  for (float& v : x) v = dist(rng);
  std::vector<uint8_t> act(packed_row_bytes(at, k) * static_cast<uint64_t>(n_act));
  dari::type_traits(at)->from_float(x.data(), act.data(), k * n_act);
  return act;
}

// Batched product: `rows` x k weights (cycling through the pool's copies, so large matrices come
// from DRAM as in decode) times n_act activation rows, one thread. Args: weight type, rows, k,
// n_act, impl. Reports GFLOP/s (2 * rows * k * n_act per iteration) and weight GB/s; the
// group-kernel impl and avx2-tiles are registered next to each other for A/B comparisons.
void BM_MatmulBatch(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1);
  const int64_t k = state.range(2);
  const int64_t n_act = state.range(3);
  const int impl = static_cast<int>(state.range(4));
  if (!impl_supported(impl)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  fill_pool(type, k);
  const uint64_t rb = packed_row_bytes(type, k);
  const uint64_t matrix = rb * static_cast<uint64_t>(rows);
  const uint64_t copies = std::max<uint64_t>(1, kPoolBytes / matrix);
  const GgmlType at = dari::simd::activation_type(type);
  const uint64_t ab = packed_row_bytes(at, k);
  const std::vector<uint8_t> act = random_activations(at, k, n_act);
  std::vector<float> out(static_cast<size_t>(rows * n_act));
  const Isa isa = isa_of(impl);
  uint64_t it = 0;
  for (auto _ : state) {
    const uint8_t* w = pool().data.get() + (it++ % copies) * matrix;
    const dari::simd::MatmulArgs a = matmul_args(type, k, w, rb, rows, act, ab, n_act, out);
    if (!dari::simd::matmul(a, isa).ok()) state.SkipWithError("matmul failed");
    benchmark::DoNotOptimize(out.data());
  }
  dari::simd::set_group_kernels_enabled(true);
  const double iters = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(static_cast<double>(matrix) * iters));
  state.counters["GFLOPs"] = benchmark::Counter(
      2.0 * static_cast<double>(rows * k * n_act) * iters / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dari::ggml_type_name(type)) + " " + impl_name(impl));
}

// A repacked matmul (packed.h), one thread: `rows` x k weights of `type` (Q4_0, Q4_K or Q5_K)
// repacked from the pool into copies totalling at most 256 MiB (cycled, so large matrices stream
// from DRAM) times n_act activation rows, with the activation side data precomputed as the
// backend does. Args: type, rows, k, n_act, isa. Reports GFLOP/s and weight GB/s.
void BM_MatmulPacked(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1);
  const int64_t k = state.range(2);
  const int64_t n_act = state.range(3);
  const auto isa = static_cast<Isa>(state.range(4));
  if (!dari::simd::isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const dari::simd::PackedLayout* layout = dari::simd::packed_layout(type);
  const bool is_k = layout->k_quant;
  fill_pool(type, k);
  const uint64_t rb = packed_row_bytes(type, k);
  const uint64_t matrix = *layout->bytes(rows, k);
  const uint64_t copies = std::max<uint64_t>(1, (uint64_t{256} << 20) / matrix);
  std::vector<uint8_t> packed(matrix * copies);
  for (uint64_t c = 0; c < copies; ++c) {
    dari::simd::RepackArgs r;
    r.k = k;
    r.src = pool().data.get() + (c * rb * static_cast<uint64_t>(rows)) % (kPoolBytes / 2);
    r.src_stride = rb;
    r.group_end = rows / dari::simd::kPackGroupRows;
    r.dst = packed.data() + c * matrix;
    const dari::Status st = layout->repack(r);
    if (!st.ok()) state.SkipWithError("repack failed");
  }
  const GgmlType at = dari::simd::activation_type(type);
  const uint64_t ab = packed_row_bytes(at, k);
  const std::vector<uint8_t> act = random_activations(at, k, n_act);
  std::vector<dari::simd::PackedActBlock> info(static_cast<size_t>(n_act * (k / 32)));
  std::vector<dari::simd::PackedActK> info_k(static_cast<size_t>(n_act * (k / 256)));
  for (int64_t j = 0; j < n_act; ++j) {
    const uint8_t* row = act.data() + ab * static_cast<uint64_t>(j);
    if (is_k) {
      dari::simd::q8_k_act_info(row, k, info_k.data() + j * (k / 256));
    } else {
      dari::simd::q8_0_act_info(row, k, info.data() + j * (k / 32));
    }
  }
  std::vector<float> out(static_cast<size_t>(rows * n_act));
  uint64_t it = 0;
  for (auto _ : state) {
    dari::simd::PackedMatmulArgs a;
    a.k = k;
    a.packed = packed.data() + (it++ % copies) * matrix;
    a.group_end = rows / dari::simd::kPackGroupRows;
    a.act = act.data();
    a.act_stride = ab;
    a.n_act = n_act;
    a.act_info = info.data();
    a.act_info_k = info_k.data();
    a.out = out.data();
    a.out_stride = rows;
    const dari::Status st = layout->matmul(a, isa);
    if (!st.ok()) state.SkipWithError("matmul failed");
    benchmark::DoNotOptimize(out.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(static_cast<double>(matrix) * iters));
  state.counters["GFLOPs"] = benchmark::Counter(
      2.0 * static_cast<double>(rows * k * n_act) * iters / 1e9, benchmark::Counter::kIsRate);
}

// Decode attention over n_pos F16 cache rows of hd = 64 as the CPU backend runs it: per run of
// 16 rows (one KV block), K converted to fp32 columns and V to fp32 rows once, then scores, the
// exp with its sum and the V sum for `heads` query heads sharing the KV head. Reports KV bytes/s
// and ns per (position, head).
void BM_AttnHead(benchmark::State& state) {
  const int64_t n_pos = state.range(0);
  const auto isa = static_cast<Isa>(state.range(1));
  const int64_t heads = state.range(2);
  if (!dari::simd::isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  constexpr int64_t kHd = 64, kRun = 16;
  const uint64_t stride = 4 * kHd * 2;  // 4 KV heads per cache row, F16
  std::vector<uint8_t> k(stride * static_cast<uint64_t>(n_pos), 0x3c), v(k.size(), 0x3c);
  std::vector<float> q(static_cast<size_t>(kHd * heads), 0.01f);
  std::vector<float> scores(static_cast<size_t>(n_pos * heads)),
      acc(static_cast<size_t>(kHd * heads));
  std::vector<float> kt(static_cast<size_t>(kHd * kRun)), rows(kt.size());
  const auto load_t = dari::simd::kv_load_t_fn(GgmlType::F16, isa);
  const auto load = dari::simd::kv_load_fn(GgmlType::F16, isa);
  const auto score = dari::simd::kv_scores_t_fn(isa);
  const auto axpy = dari::simd::kv_axpy_fn(GgmlType::F32, isa);
  const auto exp_sum = dari::simd::exp_sum_fn(isa);
  const auto* rows_bytes = reinterpret_cast<const uint8_t*>(rows.data());
  for (auto _ : state) {
    for (int64_t t = 0; t < n_pos; t += kRun) {
      const int64_t len = std::min(kRun, n_pos - t);
      load_t(k.data() + stride * static_cast<uint64_t>(t), stride, len, kHd, kt.data());
      for (int64_t h = 0; h < heads; ++h) {
        score(q.data() + h * kHd, kt.data(), dari::simd::kv_t_ld(len), len, kHd, 0.125f,
              scores.data() + h * n_pos + t);
      }
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* s = scores.data() + h * n_pos;
      const float mx = *std::max_element(s, s + n_pos);
      benchmark::DoNotOptimize(exp_sum(s, n_pos, mx));
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t t = 0; t < n_pos; t += kRun) {
      const int64_t len = std::min(kRun, n_pos - t);
      load(v.data() + stride * static_cast<uint64_t>(t), stride, len, kHd, rows.data());
      for (int64_t h = 0; h < heads; ++h) {
        axpy(scores.data() + h * n_pos + t, rows_bytes, kHd * sizeof(float), len, kHd,
             acc.data() + h * kHd);
      }
    }
    benchmark::DoNotOptimize(acc.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(2 * kHd * 2 * n_pos) * state.iterations());
  state.counters["ns_per_pos_head"] = benchmark::Counter(
      static_cast<double>(n_pos * heads) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void register_all() {
  benchmark::RegisterBenchmark("BM_ReadBandwidth_1GiB", BM_ReadBandwidth)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0);
  const GgmlType types[] = {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K,
                            GgmlType::Q6_K, GgmlType::F16,  GgmlType::BF16, GgmlType::F32};
  // {rows (outputs), k}: attention 2048x2048, ffn up/gate 5632x2048, ffn down 2048x5632, output.
  const int64_t shapes[][2] = {{2048, 2048}, {5632, 2048}, {32000, 2048}, {2048, 5632}};
  for (GgmlType t : types) {
    for (const auto& s : shapes) {
      for (int impl : {static_cast<int>(kScalar), 0, 1, static_cast<int>(kAvx2Tiles), 2}) {
        if (!impl_supported(impl)) continue;
        const std::string name = std::string("BM_Matvec/") + std::string(dari::ggml_type_name(t)) +
                                 "/" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "/" +
                                 impl_name(impl);
        benchmark::RegisterBenchmark(name.c_str(), BM_Matvec)
            ->Args({static_cast<int64_t>(t), s[0], s[1], impl})
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.2);
      }
    }
  }
  for (int impl : {0, 1}) {
    if (!dari::simd::isa_supported(static_cast<Isa>(impl))) continue;
    for (int64_t heads : {1, 4, 8}) {
      benchmark::RegisterBenchmark((std::string("BM_AttnHead/512pos/") + std::to_string(heads) +
                                    "heads/" + dari::simd::isa_name(static_cast<Isa>(impl)))
                                       .c_str(),
                                   BM_AttnHead)
          ->Args({512, impl, heads})
          ->MinTime(0.2);
    }
  }
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("BM_ReadBandwidthMT/t" + std::to_string(threads)).c_str(),
                                 BM_ReadBandwidthMT)
        ->Arg(threads)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0)
        ->UseRealTime();
    for (GgmlType t : types) {
      for (const auto& s :
           {std::array<int64_t, 2>{2048, 5632}, std::array<int64_t, 2>{32000, 2048}}) {
        const std::string name = std::string("BM_MatvecMT/") +
                                 std::string(dari::ggml_type_name(t)) + "/" + std::to_string(s[0]) +
                                 "x" + std::to_string(s[1]) + "/t" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_MatvecMT)
            ->Args({static_cast<int64_t>(t), s[0], s[1], threads})
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.3)
            ->UseRealTime();
      }
    }
  }
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    for (const auto& s :
         {std::array<int64_t, 2>{32000, 2048}, std::array<int64_t, 2>{2048, 2048}}) {
      for (int64_t n_act : {1, 8, 64}) {
        for (int impl : {1, static_cast<int>(kAvx2Tiles)}) {
          if (!impl_supported(impl)) continue;
          const std::string name = std::string("BM_MatmulBatch/") +
                                   std::string(dari::ggml_type_name(t)) + "/" +
                                   std::to_string(s[0]) + "x" + std::to_string(s[1]) + "/n" +
                                   std::to_string(n_act) + "/" + impl_name(impl);
          benchmark::RegisterBenchmark(name.c_str(), BM_MatmulBatch)
              ->Args({static_cast<int64_t>(t), s[0], s[1], n_act, impl})
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.3);
        }
      }
    }
  }
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K}) {
    for (const auto& s : {std::array<int64_t, 2>{5632, 2048}, std::array<int64_t, 2>{2048, 5632}}) {
      for (int64_t n_act : {1, 8, 64}) {
        for (int isa : {1, 2}) {  // the generic kernels are ~50x slower: tests cover them
          if (!dari::simd::isa_supported(static_cast<Isa>(isa))) continue;
          const std::string name =
              std::string("BM_MatmulPacked/") + std::string(dari::ggml_type_name(t)) + "x8/" +
              std::to_string(s[0]) + "x" + std::to_string(s[1]) + "/n" + std::to_string(n_act) +
              "/" + dari::simd::isa_name(static_cast<Isa>(isa));
          benchmark::RegisterBenchmark(name.c_str(), BM_MatmulPacked)
              ->Args({static_cast<int64_t>(t), s[0], s[1], n_act, isa})
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.3);
        }
      }
    }
  }
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16,
                     GgmlType::BF16}) {
    for (int impl : {static_cast<int>(kScalar), 1, static_cast<int>(kAvx2Tiles), 2}) {
      if (!impl_supported(impl)) continue;
      const std::string name = std::string("BM_Gemm32tok/") + std::string(dari::ggml_type_name(t)) +
                               "/" + impl_name(impl);
      benchmark::RegisterBenchmark(name.c_str(), BM_Gemm)
          ->Args({static_cast<int64_t>(t), impl})
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.2);
    }
  }
}

[[maybe_unused]] const int g_registered = (register_all(), 0);

}  // namespace
