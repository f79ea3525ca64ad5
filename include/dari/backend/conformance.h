// Backend conformance suite: every op kind (DariOpKind) over every weight/KV type a backend's
// supports_op() accepts and over edge shapes, compared with the CPU reference (the scalar path)
// by normalized MSE, NMSE = sum((a - b)^2) / sum(b^2), where b is the reference. Each case has a
// threshold for its (op, type) with a one-line justification (conformance_thresholds()). A perf
// mode also times each case on the backend under test.
//
// Memory: inputs of the backend under test live in buffers allocated on that backend and are
// moved with upload()/download() only (device addresses are never dereferenced); the reference
// runs on host memory. Weights offered to pack_weight() stay allocated until run_conformance()
// returns (the backend may read them for its whole life, see Backend::pack_weight), so run the
// suite on a backend created for it.
//
// Thread safety: run_conformance() uses both backends from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/core/result.h"

namespace dari::conformance {

enum class Mode {
  kTest,  // correctness only
  kPerf,  // correctness, then timing of each supported case
};

struct SuiteOptions {
  std::string op;    // only cases of this op ("rms_norm", as op_name()); empty: all
  std::string type;  // only cases of this type ("Q4_K", or "F32->Q8_0" for copy); empty: all
  Mode mode = Mode::kTest;
  uint32_t seed = 1234;      // random inputs
  uint32_t perf_warmup = 2;  // untimed compute() calls before timing
  uint32_t perf_min_iters = 5;
  double perf_min_seconds = 0.2;  // keep iterating until both minimums are met
  uint32_t perf_max_iters = 1000;
  // Copies of a case (its op, or its graph) per timed compute() call: 1 = one call per case
  // (each includes a device synchronisation); N > 1 spreads the per-call overhead over N copies.
  uint32_t perf_graph_ops = 1;
};

enum class Outcome { kPass, kFail, kUnsupported };
const char* outcome_name(Outcome o);  // "pass", "fail", "unsupported"

struct CaseResult {
  std::string op;     // op_name(), e.g. "matmul"
  std::string type;   // "Q4_K"; copy: "SRC->DST"
  std::string shape;  // e.g. "k=4096 n=64 m=1"
  double nmse = 0.0;  // NaN when not computed (unsupported, error)
  double threshold = 0.0;
  Outcome outcome = Outcome::kUnsupported;
  std::string message;  // why it failed (an error from the backend, NaN in the output, ...)
  // Perf mode, supported cases only (0 otherwise).
  double seconds = 0.0;  // mean wall time of one copy: compute() time / perf_graph_ops
  uint32_t iters = 0;    // timed compute() calls
  double bytes = 0.0;    // bytes read + written by the op (inputs and output, once each)
  double flops = 0.0;    // matmul: 2·M·N·K; attention: 4·head_dim per (row, head, key); else 0
  double gb_per_s() const { return seconds > 0.0 ? bytes / seconds / 1e9 : 0.0; }
  double gflop_per_s() const { return seconds > 0.0 ? flops / seconds / 1e9 : 0.0; }
};

struct SuiteReport {
  std::string backend;  // "NAME:DEVICE (device name)"
  std::vector<CaseResult> cases;
  uint32_t passed = 0, failed = 0, unsupported = 0;
};

// One row of the threshold table: the NMSE limit for an op over a type and why it is that.
struct Threshold {
  std::string op;
  std::string type;
  double nmse = 0.0;
  std::string why;
};
// One row per (op, type) the suite checks (`dari backend-test --thresholds`, docs/BACKENDS.md).
std::vector<Threshold> conformance_thresholds();

// The reference: create_backend("cpu") with simd = false and repack = false.
Result<std::unique_ptr<Backend>> make_reference_backend(uint32_t n_threads = 0);

// Runs the cases selected by `opts` on `under_test` and `reference`. on_case (may be empty) is
// called after each case, for incremental output. Errors only when no case matches the filters;
// a case whose backend call fails is reported as a failure with the backend's message.
Result<SuiteReport> run_conformance(Backend& under_test, Backend& reference,
                                    const SuiteOptions& opts,
                                    const std::function<void(const CaseResult&)>& on_case = {});

}  // namespace dari::conformance
