// dari logits vs the float64 Python reference (reference/ref_forward.py) stored in golden/.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "model/test_util.h"

namespace dari {
namespace {

struct Golden {
  std::vector<int32_t> tokens;
  std::map<int, std::vector<double>> full;                        // pos -> all logits
  std::map<int, std::vector<std::pair<int, double>>> top, sample;  // pos -> (id, value)
  std::map<int, std::pair<double, double>> sums;                   // pos -> (sum, sum of squares)
};

std::vector<std::pair<int, double>> parse_pairs(std::istringstream& in) {
  std::vector<std::pair<int, double>> out;
  std::string item;
  while (in >> item) {
    size_t c = item.find(':');
    out.emplace_back(std::stoi(item.substr(0, c)), std::stod(item.substr(c + 1)));
  }
  return out;
}

Golden read_golden(const std::string& name) {
  Golden g;
  std::ifstream f(std::string(DARI_SOURCE_DIR) + "/tests/model/golden/" + name);
  EXPECT_TRUE(f.good()) << name;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    int pos = 0;
    if (kind == "tokens") {
      int32_t t;
      while (in >> t) g.tokens.push_back(t);
    } else if (kind == "full") {
      size_t n = 0;
      in >> pos >> n;
      g.full[pos].resize(n);
      for (double& v : g.full[pos]) in >> v;
    } else if (kind == "top") {
      in >> pos;
      g.top[pos] = parse_pairs(in);
    } else if (kind == "sample") {
      in >> pos;
      g.sample[pos] = parse_pairs(in);
    } else if (kind == "sum") {
      in >> pos >> g.sums[pos].first >> g.sums[pos].second;
    }
  }
  return g;
}

// Runs the golden tokens as one prefill batch and compares every recorded value. Returns the
// largest absolute error seen, relative to the largest |logit| of the row.
double compare(const std::string& model_file, const std::string& golden_file, GgmlType kv_type,
               double rel_tol) {
  auto m = Model::load(std::string(DARI_TESTDATA_DIR) + "/models/" + model_file);
  EXPECT_TRUE(m.ok()) << m.message();
  if (!m.ok()) return INFINITY;
  Golden g = read_golden(golden_file);
  EXPECT_FALSE(g.tokens.empty());
  auto kv = KvCache::create((*m)->kv_options(64, kv_type));
  EXPECT_TRUE(kv.ok());
  SeqId s = kv->add_sequence();
  auto logits = test::run_tokens(**m, *kv, s, g.tokens);
  EXPECT_TRUE(logits.ok()) << logits.message();
  if (!logits.ok()) return INFINITY;
  const size_t nv = (*m)->config().n_vocab;
  double worst = 0.0;
  auto check = [&](int pos, int id, double want) {
    const float* row = logits->data() + static_cast<size_t>(pos) * nv;
    double scale = 0.0;
    for (size_t i = 0; i < nv; ++i) scale = std::max(scale, std::fabs(static_cast<double>(row[i])));
    double err = std::fabs(row[id] - want) / scale;
    worst = std::max(worst, err);
    EXPECT_LE(err, rel_tol) << model_file << " pos " << pos << " id " << id << ": got " << row[id]
                            << ", want " << want;
  };
  for (const auto& [pos, row] : g.full) {
    for (size_t i = 0; i < row.size(); ++i) check(pos, static_cast<int>(i), row[i]);
  }
  for (const auto* m2 : {&g.top, &g.sample}) {
    for (const auto& [pos, pairs] : *m2) {
      for (const auto& [id, v] : pairs) check(pos, id, v);
    }
  }
  for (const auto& [pos, s2] : g.sums) {
    const float* row = logits->data() + static_cast<size_t>(pos) * nv;
    double sum = std::accumulate(row, row + nv, 0.0);
    double sq = std::inner_product(row, row + nv, row, 0.0);
    EXPECT_NEAR(sum, s2.first, 1e-4 * std::sqrt(s2.second) * std::sqrt(double(nv)) + 1e-3);
    EXPECT_NEAR(sq, s2.second, 1e-3 * s2.second);
  }
  // The top ids must come out in the same order (values are well separated in these files).
  for (const auto& [pos, pairs] : g.top) {
    const float* row = logits->data() + static_cast<size_t>(pos) * nv;
    EXPECT_EQ(test::argmax(row, nv), pairs[0].first) << model_file << " pos " << pos;
  }
  return worst;
}

// stories260K, F32 weights: max error relative to the row's largest |logit| below 1e-5 (F32 KV),
// 1e-3 with the F16 KV cache.
TEST(Golden, Stories260K) {
  double e32 = compare("stories260K.gguf", "stories260K.txt", GgmlType::F32, 1e-5);
  double e16 = compare("stories260K.gguf", "stories260K.txt", GgmlType::F16, 1e-3);
  std::printf("stories260K: max rel error F32 KV %.3g, F16 KV %.3g\n", e32, e16);
}

// llama-2-tiny-random, F16 weights (activations rounded to the F16 vec_dot type): below 5e-3.
TEST(Golden, Llama2TinyRandomF16) {
  double e32 = compare("llama-2-tiny-random.gguf", "llama2_tiny_random.txt", GgmlType::F32, 5e-3);
  double e16 = compare("llama-2-tiny-random.gguf", "llama2_tiny_random.txt", GgmlType::F16, 5e-3);
  std::printf("llama-2-tiny-random: max rel error F32 KV %.3g, F16 KV %.3g\n", e32, e16);
}

}  // namespace
}  // namespace dari
