// The conformance suite's cases: host data, op parameters and the NMSE threshold of each
// (op, type). Internal to dari_backend_conformance (runner.cpp runs them).
//
// Ownership: a Case owns its tensors' bytes and every array its op's parameters point to, so an
// op made by Case::make_op() is valid while the Case lives and is not moved.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/backend/conformance.h"

namespace dari::conformance {

// A contiguous tensor in host memory: GGUF layout (ne[0] fastest), rows packed back to back.
struct HostTensor {
  GgmlType type = GgmlType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  std::vector<uint8_t> bytes;
  // The same shape at `data` (host or device address).
  TensorView view(void* data) const {
    return TensorView::contiguous(data, type, ne[0], ne[1], ne[2], ne[3]);
  }
};

struct Case {
  OpKind kind = OpKind::kAdd;
  std::vector<HostTensor> src;  // op.src[0..n)
  HostTensor dst;               // initial contents (set_rows writes into a filled table)
  bool pack = false;            // offer src[0] to pack_weight() first (matmul weights)
  double bytes = 0.0;           // bytes the op reads and writes (perf mode)
  double flops = 0.0;

  // Parameter storage; make_op() points the op's parameters here.
  float eps = 0.0f;
  float scale = 0.0f;
  std::vector<int32_t> row_ids;
  DariRopeParams rope{};
  std::vector<int32_t> positions;
  std::vector<float> freq_factors;
  DariAttentionParams attn{};
  std::vector<int32_t> row_seq;
  std::vector<std::vector<int32_t>> tables;
  std::vector<int32_t> block_counts;
  std::vector<const int32_t*> table_ptrs;

  // The op over views at these addresses (one per src, then dst).
  Op make_op(const std::vector<void*>& src_data, void* dst_data);
};

// Several ops submitted in one compute() call, each reading what earlier ones wrote (a piece
// of a forward step). Tensors live in one pool; a node names its sources and destination by
// index and carries its op's parameters and view shapes in a Case whose tensors have no bytes
// (a node may view a pool tensor with another shape, e.g. [hd, heads, M] as [hd * heads, M]).
struct GraphNode {
  std::unique_ptr<Case> op;
  std::vector<int> src;
  int dst = 0;
};
struct GraphCase {
  std::vector<HostTensor> tensors;  // inputs hold data; intermediates and outputs zeros
  std::vector<GraphNode> nodes;     // in execution order
  std::vector<int> outputs;         // tensors compared with the reference (max NMSE)
  double bytes = 0.0;
  double flops = 0.0;
  // The ops over pool tensors at these addresses (one per tensor).
  std::vector<Op> make_ops(const std::vector<void*>& addrs);
};

// A case before its data is made: enough to filter and to print the threshold table. Exactly
// one of build and build_graph is set.
struct CaseDef {
  std::string op;     // op_name() of the op, or "graph"
  std::string type;   // "Q4_K", "F32->Q8_0"
  std::string shape;  // "k=4096 n=256 m=1"
  double threshold;
  std::function<std::unique_ptr<Case>(std::mt19937& rng)> build;
  std::function<std::unique_ptr<GraphCase>(std::mt19937& rng)> build_graph;
};

// Graph cases (graph_cases.cpp), appended to all_cases().
void graph_cases(std::vector<CaseDef>* out);
// Helpers shared by the case files.
std::vector<float> uniform_floats(std::mt19937& rng, size_t n, float scale = 1.0f);
HostTensor random_tensor(std::mt19937& rng, GgmlType type, int64_t ne0, int64_t ne1 = 1,
                         int64_t ne2 = 1, float scale = 1.0f);
HostTensor zero_tensor(GgmlType type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1);

// Every case of the suite, in order.
std::vector<CaseDef> all_cases();

// The threshold table row for (op, type); nullptr when the suite has no such case.
const Threshold* find_threshold(const std::string& op, const std::string& type);

// Weight / table / KV types the suite exercises for matmul, get_rows, set_rows and copy.
const std::vector<GgmlType>& suite_types();

}  // namespace dari::conformance
