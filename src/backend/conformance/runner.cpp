// Runs conformance cases: the reference on host memory, the backend under test on buffers it
// allocated (filled with upload(), read back with download()), then NMSE of the outputs and, in
// perf mode, the mean time of one compute() call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "backend/conformance/cases.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::conformance {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A tensor's bytes as floats (every suite type has to_float).
std::vector<float> to_floats(GgmlType type, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  if (n > 0 && !dequantize_row(type, bytes.data(), out.data(), n).ok()) {
    std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
  }
  return out;
}

int64_t elements(const HostTensor& t) {
  return t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
}

// NMSE of `a` against the reference `b`; NaN if `a` has a NaN or Inf where b is finite. When
// sum(b^2) is 0 the plain sum of squared differences is returned.
double nmse(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i]) && std::isfinite(b[i])) return kNaN;
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  if (a.size() != b.size()) return kNaN;
  return den > 0.0 ? num / den : num;
}

// A case ready to run, single op or graph: the tensors in upload order, how to make its ops
// from their addresses, and which tensors hold results. make_ops() may be called again for
// other addresses; ops from an earlier call are then stale (their block-table pointers).
struct Prepared {
  std::vector<const HostTensor*> tensors;
  std::function<std::vector<Op>(const std::vector<void*>&)> make_ops;
  std::vector<size_t> outputs;  // indices into tensors
  bool pack = false;            // offer ops[0].src[0] to pack_weight()
  double bytes = 0.0, flops = 0.0;
};

Prepared prepare(Case& c) {
  Prepared p;
  for (const HostTensor& t : c.src) p.tensors.push_back(&t);
  p.tensors.push_back(&c.dst);
  p.make_ops = [&c](const std::vector<void*>& addrs) {
    const std::vector<void*> srcs(addrs.begin(), addrs.end() - 1);
    return std::vector<Op>{c.make_op(srcs, addrs.back())};
  };
  p.outputs = {p.tensors.size() - 1};
  p.pack = c.pack;
  p.bytes = c.bytes;
  p.flops = c.flops;
  return p;
}

Prepared prepare(GraphCase& g) {
  Prepared p;
  for (const HostTensor& t : g.tensors) p.tensors.push_back(&t);
  p.make_ops = [&g](const std::vector<void*>& addrs) { return g.make_ops(addrs); };
  for (int i : g.outputs) p.outputs.push_back(static_cast<size_t>(i));
  p.bytes = g.bytes;
  p.flops = g.flops;
  return p;
}

// The reference run on host memory (copies of every tensor); returns the output tensors' bytes.
Result<std::vector<std::vector<uint8_t>>> run_reference(Backend& ref, const Prepared& p) {
  std::vector<std::vector<uint8_t>> host;
  std::vector<void*> addrs;
  for (const HostTensor* t : p.tensors) host.push_back(t->bytes);
  for (auto& h : host) addrs.push_back(h.data());
  const std::vector<Op> ops = p.make_ops(addrs);
  for (const Op& op : ops) {
    if (!ref.supports_op(op)) return make_error("the reference does not support this case");
  }
  DARI_TRY(ref.compute(ops));
  std::vector<std::vector<uint8_t>> out;
  for (size_t i : p.outputs) out.push_back(std::move(host[i]));
  return out;
}

// Device memory of one case on the backend under test: one buffer per tensor, or one buffer
// holding every tensor at offsets (as an engine sub-allocates weights, KV and scratch).
struct DeviceCase {
  std::vector<std::unique_ptr<Buffer>> buffers;
  std::vector<void*> addrs;  // device address of each tensor
  std::vector<Op> ops;
};

// Offsets inside a shared buffer: multiples of 32 bytes (GGUF's tensor alignment) that are not
// multiples of 256, with a 32-byte gap after each tensor, so a kernel that assumes a tensor
// starts its buffer, or reads past its end, gets wrong numbers.
constexpr uint64_t kSharedAlign = 32;
constexpr uint64_t kSharedFirst = 96;

Result<DeviceCase> upload_case(Backend& b, const Prepared& p, bool shared) {
  DeviceCase d;
  if (shared) {
    std::vector<uint64_t> offsets;
    uint64_t end = kSharedFirst;
    for (const HostTensor* t : p.tensors) {
      offsets.push_back(end);
      end = (end + t->bytes.size() + kSharedAlign + kSharedAlign - 1) / kSharedAlign * kSharedAlign;
    }
    DARI_ASSIGN_OR_RETURN(std::unique_ptr<Buffer> buf, b.alloc(end));
    for (size_t i = 0; i < p.tensors.size(); ++i) {
      void* at = static_cast<uint8_t*>(buf->data()) + offsets[i];  // arithmetic, no dereference
      DARI_TRY(b.upload(at, p.tensors[i]->bytes.data(), p.tensors[i]->bytes.size()));
      d.addrs.push_back(at);
    }
    d.buffers.push_back(std::move(buf));
  } else {
    for (const HostTensor* t : p.tensors) {
      DARI_ASSIGN_OR_RETURN(std::unique_ptr<Buffer> buf, b.alloc(t->bytes.size()));
      DARI_TRY(b.upload(buf->data(), t->bytes.data(), t->bytes.size()));
      d.addrs.push_back(buf->data());
      d.buffers.push_back(std::move(buf));
    }
  }
  d.ops = p.make_ops(d.addrs);
  return d;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Mean seconds per case (its op or graph) of compute() calls on perf_graph_ops copies of it
// (every op writes only its destination from unchanged inputs, so repeating changes nothing).
Status time_case(Backend& b, const DeviceCase& d, const SuiteOptions& o, CaseResult* r) {
  const uint32_t copies = std::max(1u, o.perf_graph_ops);
  std::vector<Op> ops;
  for (uint32_t i = 0; i < copies; ++i) ops.insert(ops.end(), d.ops.begin(), d.ops.end());
  const std::span<const Op> graph(ops);
  for (uint32_t i = 0; i < o.perf_warmup; ++i) DARI_TRY(b.compute(graph));
  uint32_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  while (iters < o.perf_max_iters && (iters < o.perf_min_iters || elapsed < o.perf_min_seconds)) {
    DARI_TRY(b.compute(graph));
    ++iters;
    elapsed = seconds_since(t0);
  }
  r->iters = iters;
  r->seconds = iters > 0 ? elapsed / (static_cast<double>(iters) * copies) : 0.0;
  return Status::Ok();
}

// Max NMSE over the outputs (downloaded from the device) against the reference's.
Result<double> compare(Backend& b, const Prepared& p, const DeviceCase& d,
                       const std::vector<std::vector<uint8_t>>& want) {
  double worst = 0.0;
  for (size_t k = 0; k < p.outputs.size(); ++k) {
    const HostTensor& t = *p.tensors[p.outputs[k]];
    std::vector<uint8_t> got(t.bytes.size());
    DARI_TRY(b.download(got.data(), d.addrs[p.outputs[k]], got.size()));
    const int64_t n = elements(t);
    const double e = nmse(to_floats(t.type, got, n), to_floats(t.type, want[k], n));
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

// The device half of a case: pack (matmul weights), compute, compare, time.
CaseResult check_on_device(Backend& b, const Prepared& p, DeviceCase& dev,
                           const std::vector<std::vector<uint8_t>>& want, const SuiteOptions& o,
                           CaseResult r) {
  auto fail = [&r](const std::string& msg) {
    r.outcome = Outcome::kFail;
    r.message = msg;
    return r;
  };
  if (p.pack) {
    auto packed = b.pack_weight(from_c_view(dev.ops[0].src[0]));
    if (!packed.ok()) return fail(packed.message());
    if (const size_t at = r.shape.find(" pack"); *packed && at != std::string::npos) {
      r.shape.insert(at + 5, "ed");  // "pack" -> "packed": the backend made a copy
    }
  }
  Status st = b.compute(dev.ops);
  if (!st.ok()) return fail(st.message());
  auto err = compare(b, p, dev, want);
  if (!err.ok()) return fail(err.message());
  r.nmse = *err;
  if (r.nmse <= r.threshold) {
    r.outcome = Outcome::kPass;
  } else {
    r.outcome = Outcome::kFail;
    r.message = std::isnan(r.nmse) ? "NaN or Inf in the output" : "NMSE above the threshold";
  }
  if (o.mode == Mode::kPerf) {
    r.bytes = p.bytes;
    r.flops = p.flops;
    st = time_case(b, dev, o, &r);
    if (!st.ok()) return fail(st.message());
  }
  return r;
}

// Runs one case; `retained` keeps weights offered to pack_weight() alive.
CaseResult run_case(Backend& under_test, Backend& ref, const CaseDef& def, const SuiteOptions& o,
                    uint32_t index, std::vector<DeviceCase>* retained) {
  CaseResult r;
  r.op = def.op;
  r.type = def.type;
  r.shape = def.shape;
  r.threshold = def.threshold;
  r.nmse = kNaN;
  auto fail = [&r](const std::string& msg) {
    r.outcome = Outcome::kFail;
    r.message = msg;
    return r;
  };
  std::mt19937 rng(o.seed * 2654435761u + index);
  std::unique_ptr<Case> single = def.build ? def.build(rng) : nullptr;
  std::unique_ptr<GraphCase> graph = single ? nullptr : def.build_graph(rng);
  const Prepared p = single ? prepare(*single) : prepare(*graph);
  for (const HostTensor* t : p.tensors) {
    if (t->bytes.empty()) return fail("the suite could not quantize its inputs to " + def.type);
  }
  // Shape-only questions first (null addresses), as a scheduler would ask them.
  for (const Op& probe : p.make_ops(std::vector<void*>(p.tensors.size(), nullptr))) {
    if (!under_test.supports_op(probe)) {
      r.outcome = Outcome::kUnsupported;
      return r;
    }
  }
  auto want = run_reference(ref, p);
  if (!want.ok()) return fail("reference: " + want.message());
  // Every other case places its tensors at offsets inside one buffer.
  const bool shared = index % 2 == 1;
  if (shared) r.shape += " @off";
  auto dev = upload_case(under_test, p, shared);
  if (!dev.ok()) return fail(dev.message());
  r = check_on_device(under_test, p, *dev, *want, o, std::move(r));
  // A weight offered to pack_weight() may be read for the backend's whole life: keep it, even
  // when the case failed after the offer.
  if (p.pack) retained->push_back(std::move(dev).value());
  return r;
}

bool matches(const CaseDef& d, const SuiteOptions& o) {
  return (o.op.empty() || o.op == d.op) && (o.type.empty() || o.type == d.type);
}

}  // namespace

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kUnsupported:
      return "unsupported";
  }
  return "?";
}

Result<std::unique_ptr<Backend>> make_reference_backend(uint32_t n_threads) {
  BackendOptions o;
  o.simd = false;
  o.repack = false;
  o.n_threads = n_threads;
  return create_backend("cpu", o);
}

Result<SuiteReport> run_conformance(Backend& under_test, Backend& reference,
                                    const SuiteOptions& opts,
                                    const std::function<void(const CaseResult&)>& on_case) {
  SuiteReport report;
  const DeviceInfo& dev = under_test.device();
  report.backend = (dev.backend.empty() ? dev.name : dev.backend) + ":" +
                   std::to_string(dev.index) + " (" + dev.name + ")";
  const std::vector<CaseDef> defs = all_cases();
  std::vector<DeviceCase> retained;  // packed weights: alive until the suite ends
  uint32_t selected = 0;
  for (size_t i = 0; i < defs.size(); ++i) {
    if (!matches(defs[i], opts)) continue;
    ++selected;
    CaseResult r =
        run_case(under_test, reference, defs[i], opts, static_cast<uint32_t>(i), &retained);
    switch (r.outcome) {
      case Outcome::kPass:
        ++report.passed;
        break;
      case Outcome::kFail:
        ++report.failed;
        break;
      case Outcome::kUnsupported:
        ++report.unsupported;
        break;
    }
    if (on_case) on_case(r);
    report.cases.push_back(std::move(r));
  }
  if (selected == 0) {
    std::string ops;
    for (uint32_t k = 0; k < DARI_OP_COUNT; ++k) {
      ops += (k ? ", " : "") + std::string(op_name(static_cast<OpKind>(k)));
    }
    ops += "; graphs: ffn, decode";
    return make_error(
        "no conformance case matches op '" + printable(opts.op) + "' and type '" +
        printable(opts.type) + "' (ops: " + ops +
        "; types: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K, copy: F32->T, T->F32)");
  }
  return report;
}

}  // namespace dari::conformance
