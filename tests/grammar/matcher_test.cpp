// Matcher behaviour: tokens, UTF-8 split across tokens, end of generation, copies, the shared
// cache and concurrent use.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "dari/grammar/matcher.h"
#include "grammar_test_util.h"

namespace dari::grammar {
namespace {

using testing::bit;
using testing::brute_force_mask;
using testing::make_vocab;
using testing::mask_diff;
using testing::mask_of;
using testing::must_compile;

TEST(Matcher, AcceptsTokensAndRejectsWithoutChangingState) {
  auto g = must_compile(R"(root ::= "hello" " " ("world" | "there"))");
  auto v = make_vocab({"hel", "lo", "hello", " ", " w", "orld", "there", "x", "", "</s>"}, {9});
  auto m = Matcher::create(g, v);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_FALSE(m->accept(1));  // "lo" cannot start
  EXPECT_FALSE(m->accept(8));  // empty special token: never
  EXPECT_FALSE(m->accept(9));  // EOG: cannot end yet
  EXPECT_FALSE(m->accept(-1));
  EXPECT_FALSE(m->accept(100));
  EXPECT_TRUE(m->accept(0));
  EXPECT_TRUE(m->accept(1));
  EXPECT_FALSE(m->accept(7));
  EXPECT_TRUE(m->accept(4));
  EXPECT_FALSE(m->can_end());
  EXPECT_TRUE(m->accept(5));
  EXPECT_TRUE(m->can_end());
  EXPECT_TRUE(m->must_end());
  auto bits = mask_of(*m, *v);
  for (size_t t = 0; t < v->size(); ++t) EXPECT_EQ(bit(bits, t), t == 9) << t;
  EXPECT_TRUE(m->accept(9));
  EXPECT_TRUE(m->terminated());
  EXPECT_FALSE(m->can_end());
  bits = mask_of(*m, *v);
  for (size_t t = 0; t < v->size(); ++t) EXPECT_FALSE(bit(bits, t)) << t;
  EXPECT_FALSE(m->accept(9));
}

TEST(Matcher, MaskMatchesExpectations) {
  auto g = must_compile(R"(root ::= "a" [bc]+ "d")");
  auto v = make_vocab({"a", "ab", "abc", "abd", "b", "c", "bd", "cd", "d", "e", "<eos>"}, {10});
  auto m = *Matcher::create(g, v);
  auto bits = mask_of(m, *v);
  std::vector<size_t> want = {0, 1, 2, 3};
  for (size_t t = 0; t < v->size(); ++t) {
    EXPECT_EQ(bit(bits, t), std::find(want.begin(), want.end(), t) != want.end()) << t;
  }
  ASSERT_TRUE(m.accept(2));  // "abc"
  bits = mask_of(m, *v);
  want = {4, 5, 6, 7, 8};
  for (size_t t = 0; t < v->size(); ++t) {
    EXPECT_EQ(bit(bits, t), std::find(want.begin(), want.end(), t) != want.end()) << t;
  }
}

TEST(Matcher, Utf8SplitAcrossTokens) {
  // "é" is C3 A9; "€" is E2 82 AC; "😀" is F0 9F 98 80.
  auto g = must_compile(R"(root ::= [é€😀]+)");
  auto v = make_vocab({"\xC3", "\xA9", "\xC3\xA9", "\xE2", "\x82", "\xAC", "\xE2\x82", "\xAC\xC3",
                       "\xF0", "\x9F", "\x98", "\x80", "\x9F\x98\x80", "e", "<eos>"},
                      {14});
  auto m = *Matcher::create(g, v);
  EXPECT_EQ(mask_of(m, *v), brute_force_mask(m, *v));
  auto bits = mask_of(m, *v);
  EXPECT_TRUE(bit(bits, 0));
  EXPECT_FALSE(bit(bits, 1));
  EXPECT_TRUE(bit(bits, 2));
  EXPECT_TRUE(bit(bits, 3));
  EXPECT_TRUE(bit(bits, 6));
  EXPECT_TRUE(bit(bits, 8));
  EXPECT_FALSE(bit(bits, 13));
  EXPECT_FALSE(bit(bits, 14));  // nothing yet: cannot end
  ASSERT_TRUE(m.accept(6));     // E2 82
  bits = mask_of(m, *v);
  EXPECT_TRUE(bit(bits, 5));    // AC completes €
  EXPECT_TRUE(bit(bits, 7));    // AC C3 completes € and starts é
  EXPECT_FALSE(bit(bits, 14));  // mid-character: cannot end
  EXPECT_EQ(bits, brute_force_mask(m, *v));
  ASSERT_TRUE(m.accept(7));
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept(1));
  EXPECT_TRUE(m.can_end());
  ASSERT_TRUE(m.accept(8));
  ASSERT_TRUE(m.accept(12));
  EXPECT_TRUE(m.can_end());
  EXPECT_EQ(mask_of(m, *v), brute_force_mask(m, *v));
}

TEST(Matcher, CopiesAreIndependent) {
  auto g = must_compile(R"(root ::= ("a" | "b")+ "!")");
  auto v = make_vocab({"a", "b", "!", "<eos>"}, {3});
  auto m = *Matcher::create(g, v);
  ASSERT_TRUE(m.accept(0));
  Matcher copy = m;
  ASSERT_TRUE(copy.accept(2));
  EXPECT_TRUE(copy.can_end());
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept(1));
  Matcher assigned = copy;
  assigned = m;
  EXPECT_FALSE(assigned.can_end());
  ASSERT_TRUE(assigned.accept(2));
  EXPECT_TRUE(assigned.can_end());
  m.reset();
  EXPECT_FALSE(m.accept(2));
  EXPECT_TRUE(m.accept(1));
}

TEST(Matcher, AcceptBytesForcesAPrefix) {
  auto g = must_compile(R"(root ::= "{\"name\": \"" [a-z]+ "\"}")");
  auto v = make_vocab({"{", "\"", "name", "\": \"", "ab", "\"}", "x\"}", "<eos>"}, {7});
  auto m = *Matcher::create(g, v);
  EXPECT_FALSE(m.accept_bytes("{\"nam3"));
  EXPECT_TRUE(m.accept_bytes("{\"name\": \""));
  auto bits = mask_of(m, *v);
  EXPECT_TRUE(bit(bits, 4));
  EXPECT_TRUE(bit(bits, 6));
  EXPECT_FALSE(bit(bits, 5));  // at least one letter first
  EXPECT_TRUE(m.accept(6));
  EXPECT_TRUE(m.must_end());
}

TEST(Matcher, CacheIsSharedBetweenMatchers) {
  auto g = must_compile(R"(root ::= "\"" [^"]* "\"")");
  std::vector<std::string> toks = {"\"", "a", "b", "ab", "a\"", "\"b", "<eos>"};
  auto v = make_vocab(toks, {6});
  auto a = *Matcher::create(g, v);
  auto b = *Matcher::create(g, v);
  ASSERT_TRUE(a.accept(0));
  ASSERT_TRUE(b.accept(0));
  auto ma = mask_of(a, *v);
  EXPECT_FALSE(a.last_mask_cached());
  auto mb = mask_of(b, *v);
  EXPECT_TRUE(b.last_mask_cached());
  EXPECT_EQ(ma, mb);
  // The same frames after more text: still cached, same mask.
  ASSERT_TRUE(a.accept(3));
  auto ma2 = mask_of(a, *v);
  EXPECT_TRUE(a.last_mask_cached());
  EXPECT_EQ(ma2, ma);
  EXPECT_EQ(ma2, brute_force_mask(a, *v));
  // A grammar with caching off gives the same masks.
  GrammarLimits no_cache;
  no_cache.mask_cache_bytes = 0;
  auto g2 = must_compile(R"(root ::= "\"" [^"]* "\"")", no_cache);
  auto c = *Matcher::create(g2, v);
  ASSERT_TRUE(c.accept(0));
  EXPECT_EQ(mask_of(c, *v), ma);
  EXPECT_FALSE(c.last_mask_cached());
}

TEST(Matcher, VocabularyCacheIsSharedBetweenGrammars) {
  // Two grammars that both contain the same string rule (numbered differently) share its masks
  // through the vocabulary; a string rule that differs by one character does not.
  auto v = make_vocab({"\"", "a", "z", "az", "a\"", "z\"", "\"a", "[", "]", "<eos>"}, {9});
  auto g1 = must_compile("root ::= \"[\" str \"]\"\nstr ::= \"\\\"\" [a-z]* \"\\\"\"");
  auto g2 = must_compile(
      "root ::= x | y\nx ::= \"#\"\ny ::= \"[\" \"[\"? s \"]\"\n"
      "s ::= \"\\\"\" [a-z]* \"\\\"\"");
  auto g3 = must_compile("root ::= \"[\" str \"]\"\nstr ::= \"\\\"\" [a-y]* \"\\\"\"");
  auto m1 = *Matcher::create(g1, v);
  ASSERT_TRUE(m1.accept_bytes("[\""));
  auto first = mask_of(m1, *v);
  EXPECT_FALSE(m1.last_mask_cached());
  auto m2 = *Matcher::create(g2, v);
  ASSERT_TRUE(m2.accept_bytes("[\""));
  auto second = mask_of(m2, *v);
  EXPECT_TRUE(m2.last_mask_cached());
  EXPECT_EQ(second, brute_force_mask(m2, *v));
  EXPECT_EQ(first, second);
  auto m3 = *Matcher::create(g3, v);
  ASSERT_TRUE(m3.accept_bytes("[\""));
  auto third = mask_of(m3, *v);
  EXPECT_FALSE(m3.last_mask_cached());
  EXPECT_EQ(third, brute_force_mask(m3, *v));
  EXPECT_FALSE(bit(third, 2));
  EXPECT_TRUE(bit(first, 2));
}

TEST(Matcher, PrecomputedMasksServeEveryStateFromTheCache) {
  auto g = must_compile(R"(
root ::= "[" str ("," str)* "]"
str  ::= "\"" ch* "\""
ch   ::= [a-z] | "\\" "n" | ws
ws   ::= " " ws?
)");
  auto v = make_vocab({"[", "\"", "ab", "\",", "\"]", ",", "]", "ab\",", "c\\n", " ", "<eos>"},
                      {10});
  size_t computed = 0;
  ASSERT_TRUE(precompute_masks(g, v, std::chrono::seconds(30), &computed));
  EXPECT_GT(computed, 3u);
  size_t again = 0;
  ASSERT_TRUE(precompute_masks(g, v, std::chrono::seconds(30), &again));
  EXPECT_EQ(again, 0u);  // everything was cached the first time
  auto m = *Matcher::create(g, v);
  for (int32_t t : {0, 1, 2, 9, 3, 1, 8, 9, 4}) {
    auto mask = mask_of(m, *v);
    EXPECT_TRUE(m.last_mask_cached()) << "before token " << t;
    EXPECT_EQ(mask, brute_force_mask(m, *v)) << mask_diff(mask, brute_force_mask(m, *v), *v);
    ASSERT_TRUE(m.accept(t)) << t;
  }
  EXPECT_TRUE(m.can_end());
  // A budget already spent computes nothing and says so.
  auto g2 = must_compile("root ::= \"x\" [a-z]*");
  EXPECT_FALSE(precompute_masks(g2, v, std::chrono::milliseconds(0)));
}

TEST(Matcher, ContextDependentTokensUseTheRealStack) {
  // The same string rule is used in two places; what may follow the closing quote differs.
  // (str calls a rule, so it is called rather than copied into root.)
  auto g = must_compile(R"(
root ::= "[" str "," str "]"
str  ::= "\"" ch* "\""
ch   ::= [a-z]
)");
  auto v =
      make_vocab({"[", "\"", "ab", "\",", "\"]", "\"", ",", "]", "ab\",", "ab\"]", "<eos>"}, {10});
  auto m = *Matcher::create(g, v);
  ASSERT_TRUE(m.accept(0));
  ASSERT_TRUE(m.accept(1));
  auto first = mask_of(m, *v);
  EXPECT_EQ(first, brute_force_mask(m, *v)) << mask_diff(first, brute_force_mask(m, *v), *v);
  EXPECT_TRUE(bit(first, 3));
  EXPECT_FALSE(bit(first, 4));
  EXPECT_TRUE(bit(first, 8));
  EXPECT_FALSE(bit(first, 9));
  ASSERT_TRUE(m.accept(8));  // ab",
  ASSERT_TRUE(m.accept(1));
  auto second = mask_of(m, *v);
  EXPECT_TRUE(m.last_mask_cached());  // same top frame as before
  EXPECT_EQ(second, brute_force_mask(m, *v));
  EXPECT_FALSE(bit(second, 3));
  EXPECT_TRUE(bit(second, 4));
  EXPECT_FALSE(bit(second, 8));
  EXPECT_TRUE(bit(second, 9));
}

TEST(Matcher, DeepNestingAndLongGenerations) {
  auto g = must_compile(R"(root ::= "[" root? "]")");
  auto v = make_vocab({"[", "]", "[[", "]]", "<eos>"}, {4});
  auto m = *Matcher::create(g, v);
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(m.accept(2));
  auto bits = mask_of(m, *v);
  EXPECT_EQ(bits, brute_force_mask(m, *v));
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(m.accept(3)) << i;
  EXPECT_TRUE(m.must_end());
}

TEST(Matcher, ConcurrentMatchersShareGrammarAndVocabulary) {
  auto g = must_compile(R"(
root  ::= "{" pair ("," pair)* "}"
pair  ::= "\"" [a-z]+ "\":" value
value ::= [0-9]+ | "\"" [^"]* "\"" | root
)");
  std::vector<std::string> toks;
  for (const char* t : {"{", "}",     ",",  "\"",  "\":", "a",  "b",  "ab",  "1", "12",
                        "x", "\"a\"", "}}", "\"}", "\",", "1,", "1}", "{\"", "é", "<eos>"}) {
    toks.emplace_back(t);
  }
  auto v = make_vocab(toks, {static_cast<int32_t>(toks.size() - 1)});
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t + 1));
      for (int run = 0; run < 20; ++run) {
        auto m = *Matcher::create(g, v);
        for (int step = 0; step < 40; ++step) {
          std::vector<uint64_t> bits(v->mask_words());
          if (!m.fill_mask(bits).ok() || bits != brute_force_mask(m, *v)) ++failures[t];
          std::vector<int32_t> allowed;
          for (size_t k = 0; k < v->size(); ++k) {
            if (bit(bits, k)) allowed.push_back(static_cast<int32_t>(k));
          }
          if (allowed.empty()) break;
          const int32_t pick = allowed[rng() % allowed.size()];
          if (!m.accept(pick)) ++failures[t];
          if (m.terminated()) break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace dari::grammar
