// Hostile inputs: errors (not hangs, crashes or unbounded memory) within a time bound.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "dari/grammar/json_schema.h"
#include "dari/grammar/matcher.h"
#include "grammar_test_util.h"

namespace dari::grammar {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST(Hostile, DeeplyNestedSchema) {
  json s = {{"type", "integer"}};
  for (int i = 0; i < 2000; ++i) s = json{{"type", "array"}, {"items", std::move(s)}};
  const auto t0 = Clock::now();
  auto r = json_schema_to_gbnf(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("nested deeper than 64"), std::string::npos) << r.message();
  EXPECT_LT(seconds_since(t0), 1.0);
}

TEST(Hostile, HugeEnum) {
  json values = json::array();
  for (int i = 0; i < 100000; ++i) values.push_back(i);
  auto r = json_schema_to_gbnf(json{{"enum", values}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("/enum: more than 1024 values"), std::string::npos) << r.message();
}

TEST(Hostile, TenMegabyteSchemaRejectedQuickly) {
  json props = json::object();
  for (int i = 0; i < 100000; ++i) {
    props["property_" + std::to_string(i)] =
        json{{"type", "string"}, {"description", std::string(80, 'd')}};
  }
  json s = {{"type", "object"}, {"properties", std::move(props)}};
  const auto t0 = Clock::now();
  auto r = json_schema_to_gbnf(s);
  const double took = seconds_since(t0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("larger than the limit"), std::string::npos) << r.message();
  EXPECT_LT(took, 0.2);
}

TEST(Hostile, ExponentialMergesAreBounded) {
  // anyOf with sibling constraints copies the siblings into each branch; nest it.
  json s = {{"type", "integer"}};
  for (int i = 0; i < 25; ++i) {
    s = json{{"type", "object"},
             {"properties", {{"x", s}}},
             {"anyOf", json::array({json{{"required", {"x"}}}, json{{"required", {"y"}}}})}};
  }
  const auto t0 = Clock::now();
  auto r = json_schema_to_gbnf(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("expands"), std::string::npos) << r.message();
  EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(Hostile, LeftRecursionAndHugeRepeats) {
  EXPECT_FALSE(compile_gbnf("root ::= a\na ::= b \"x\"\nb ::= a | \"y\"").ok());
  EXPECT_FALSE(compile_gbnf("root ::= \"a\"{0,100000}").ok());
  EXPECT_FALSE(compile_gbnf("root ::= \"a\"{100000}").ok());
  const auto t0 = Clock::now();
  auto r = compile_gbnf("root ::= ((((\"ab\"{1000}){1000}){1000}){1000}){1000}");
  EXPECT_TRUE(r.ok()) << r.message();  // bodies become rules: small automaton
  EXPECT_LT(seconds_since(t0), 1.0);
}

std::string exploding_grammar(int depth, const std::string& prefix) {
  std::string g = "root ::= " + prefix + " r1\n";
  for (int i = 1; i < depth; ++i) {
    g += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + " \"x\" | r" +
         std::to_string(i + 1) + " \"y\"\n";
  }
  g += "r" + std::to_string(depth) + " ::= \"a\"\n";
  return g;
}

TEST(Hostile, AmbiguityExplosionAtCompile) {
  const auto t0 = Clock::now();
  auto r = compile_gbnf(exploding_grammar(40, "\"\""));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("too ambiguous"), std::string::npos) << r.message();
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(Hostile, AmbiguityExplosionWhileMatching) {
  auto g = compile_gbnf(exploding_grammar(40, "\"go\""));
  ASSERT_TRUE(g.ok()) << g.message();
  auto v = testing::make_vocab({"g", "o", "a", "x", "<eos>"}, {4});
  auto m = Matcher::create(*g, v);
  ASSERT_TRUE(m.ok());
  const auto t0 = Clock::now();
  std::vector<uint64_t> bits(v->mask_words());
  ASSERT_TRUE(m->fill_mask(bits).ok());
  ASSERT_TRUE(m->accept(0));
  // The next mask has to expand the stacks: it fails instead of stalling.
  Status st = m->fill_mask(bits);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("too ambiguous"), std::string::npos) << st.message();
  EXPECT_EQ(bits[0], uint64_t{1} << 4);  // only EOG
  EXPECT_FALSE(m->status().ok());
  EXPECT_FALSE(m->accept(1));
  EXPECT_LT(seconds_since(t0), 2.0);
  // accept() alone hits the same bound.
  auto m2 = *Matcher::create(*g, v);
  EXPECT_TRUE(m2.accept(0));
  EXPECT_FALSE(m2.accept(1));
  EXPECT_FALSE(m2.status().ok());
}

TEST(Hostile, RandomGbnfTextNeverCrashes) {
  std::mt19937 rng(7);
  const std::string alphabet = "root ::= ab|()[]^-*+?{}0123456789,\"\\#.\n xu";
  int compiled = 0;
  auto v = testing::make_vocab({"a", "b", "ab", "(", "\"", "x", "<eos>"}, {6});
  for (int i = 0; i < 3000; ++i) {
    std::string text = "root ::= ";
    const int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) text += alphabet[rng() % alphabet.size()];
    auto g = compile_gbnf(text);
    if (!g.ok()) {
      EXPECT_FALSE(g.message().empty());
      continue;
    }
    ++compiled;
    auto m = Matcher::create(*g, v);
    if (!m.ok()) continue;
    std::vector<uint64_t> bits(v->mask_words());
    for (int step = 0; step < 5; ++step) {
      if (!m->fill_mask(bits).ok()) break;
      int32_t pick = -1;
      for (int t = 0; t < 7; ++t) {
        if ((bits[0] >> t) & 1) pick = t;
      }
      if (pick < 0 || !m->accept(pick) || m->terminated()) break;
    }
  }
  EXPECT_GT(compiled, 10);
}

}  // namespace
}  // namespace dari::grammar
