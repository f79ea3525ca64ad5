// ChoiceState on the real llama SPM vocabulary: end-of-generation tokens (and ignore_eog), stop
// strings across token boundaries with held-back text, the length rules (max_tokens and the
// context in tokens), cancellation, and the flush of held-back text and incomplete UTF-8.
#include "engine/choice_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

namespace dari {
namespace {

const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

class ChoiceStateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t =
        Tokenizer::open(std::string(DARI_TESTDATA_DIR) + "/tokenizer/ggml-vocab-llama-spm.gguf");
    ASSERT_TRUE(t.ok()) << t.message();
    tok_ = new Tokenizer(std::move(t).value());
    eog_ = new std::vector<uint8_t>(tok_->n_tokens(), 0);
    for (size_t i = 0; i < tok_->n_tokens(); ++i) {
      (*eog_)[i] = tok_->is_end_of_generation(static_cast<TokenId>(i)) ? 1 : 0;
    }
  }
  static void TearDownTestSuite() {
    delete eog_;
    delete tok_;
  }

  static ChoiceOptions options(std::vector<std::string> stop = {}, int32_t max_tokens = -1) {
    ChoiceOptions o;
    o.tokenizer = tok_;
    o.stop = std::move(stop);
    o.eog = *eog_;
    o.max_tokens = max_tokens;
    o.prompt_tokens = 4;
    o.n_ctx = 4096;
    return o;
  }
  static int32_t id(const char* piece) {
    const TokenId t = tok_->find_token(piece);
    EXPECT_NE(t, kNoToken) << piece;
    return t;
  }
  static ChoiceStep push(ChoiceState& s, int32_t token) {
    auto r = s.push(token);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? std::move(r).value() : ChoiceStep{};
  }

  static Tokenizer* tok_;
  static std::vector<uint8_t>* eog_;
};

Tokenizer* ChoiceStateTest::tok_ = nullptr;
std::vector<uint8_t>* ChoiceStateTest::eog_ = nullptr;

TEST_F(ChoiceStateTest, EndOfGenerationStopsWithoutItsText) {
  ASSERT_TRUE(tok_->is_end_of_generation(tok_->eos()));
  ChoiceState s(options());
  ChoiceStep a = push(s, id("▁Hello"));
  EXPECT_EQ(a.text, " Hello");
  EXPECT_EQ(a.finish, FinishReason::kNone);
  ChoiceStep b = push(s, tok_->eos());
  EXPECT_EQ(b.text, "");
  EXPECT_EQ(b.finish, FinishReason::kStop);
  EXPECT_EQ(b.stop_string, "");
  EXPECT_EQ(s.generated(), 2u);  // the eog token counts
}

TEST_F(ChoiceStateTest, EndOfGenerationFlushesHeldBackText) {
  ChoiceState s(options({"lo!"}));
  EXPECT_EQ(push(s, id("▁Hello")).text, " Hel");  // "lo" may start "lo!"
  ChoiceStep b = push(s, tok_->eos());
  EXPECT_EQ(b.finish, FinishReason::kStop);
  EXPECT_EQ(b.text, "lo");
  EXPECT_EQ(b.stop_string, "");
}

TEST_F(ChoiceStateTest, IgnoreEogGoesOn) {
  ChoiceOptions o = options();
  o.ignore_eog = true;
  ChoiceState s(std::move(o));
  ChoiceStep a = push(s, tok_->eos());
  EXPECT_EQ(a.finish, FinishReason::kNone);
  EXPECT_EQ(a.text, "");  // a control token has no continuation text
  ChoiceStep b = push(s, id("▁Hello"));
  EXPECT_EQ(b.finish, FinishReason::kNone);
  EXPECT_EQ(b.text, " Hello");
  EXPECT_EQ(s.generated(), 2u);
}

TEST_F(ChoiceStateTest, StopStringAcrossTwoTokens) {
  ChoiceState s(options({"xyz", "o w"}));
  ChoiceStep a = push(s, id("▁Hello"));
  EXPECT_EQ(a.text, " Hell");  // "o" is held back: it may start "o w"
  EXPECT_EQ(a.finish, FinishReason::kNone);
  ChoiceStep b = push(s, id("▁world"));
  EXPECT_EQ(b.text, "");  // nothing from the stop string on
  EXPECT_EQ(b.finish, FinishReason::kStop);
  EXPECT_EQ(b.stop_string, "o w");
}

TEST_F(ChoiceStateTest, HeldBackTextIsReleasedWhenNoStopFollows) {
  ChoiceState s(options({"o!"}));
  EXPECT_EQ(push(s, id("▁Hello")).text, " Hell");
  ChoiceStep b = push(s, id("▁world"));
  EXPECT_EQ(b.text, "o world");
  EXPECT_EQ(b.finish, FinishReason::kNone);
}

TEST_F(ChoiceStateTest, MaxTokensFlushesAPartialStopString) {
  {
    ChoiceState s(options({"ld!"}, 3));
    EXPECT_EQ(push(s, id("▁Hello")).text, " Hello");
    ChoiceStep b = push(s, id("▁world"));
    EXPECT_EQ(b.text, " wor");  // "ld" may start "ld!"
    EXPECT_EQ(b.finish, FinishReason::kNone);
  }
  ChoiceState s(options({"ld!"}, 2));
  EXPECT_FALSE(s.length_reached());
  EXPECT_EQ(push(s, id("▁Hello")).finish, FinishReason::kNone);
  ChoiceStep b = push(s, id("▁world"));
  EXPECT_EQ(b.finish, FinishReason::kLength);
  EXPECT_EQ(b.text, " world");  // the held-back "ld" is released at the end
  EXPECT_EQ(b.stop_string, "");
  EXPECT_TRUE(s.length_reached());
}

TEST_F(ChoiceStateTest, MaxTokensZeroIsReachedBeforeAnyToken) {
  ChoiceState s(options({}, 0));
  EXPECT_TRUE(s.length_reached());
  EXPECT_EQ(s.generated(), 0u);
}

TEST_F(ChoiceStateTest, ContextLimitCountsPromptPlusGeneratedTokens) {
  ChoiceOptions o = options();
  o.prompt_tokens = 5;
  o.n_ctx = 7;  // room for two generated tokens
  ChoiceState s(std::move(o));
  EXPECT_FALSE(s.length_reached());
  EXPECT_EQ(push(s, id("▁Hello")).finish, FinishReason::kNone);
  ChoiceStep b = push(s, id("▁world"));
  EXPECT_EQ(b.finish, FinishReason::kLength);
  EXPECT_EQ(b.text, " world");
  EXPECT_TRUE(s.length_reached());
}

TEST_F(ChoiceStateTest, Utf8IsEmittedOnlyWhenComplete) {
  ChoiceState s(options());
  EXPECT_EQ(push(s, id("<0xE2>")).text, "");
  EXPECT_EQ(push(s, id("<0x82>")).text, "");
  EXPECT_EQ(push(s, id("<0xAC>")).text, "\xE2\x82\xAC");  // U+20AC
}

TEST_F(ChoiceStateTest, IncompleteUtf8IsFlushedAtTheEnd) {
  ChoiceState s(options({}, 3));
  EXPECT_EQ(push(s, id("▁Hello")).text, " Hello");
  EXPECT_EQ(push(s, id("<0xE2>")).text, "");
  ChoiceStep c = push(s, id("<0x82>"));
  EXPECT_EQ(c.finish, FinishReason::kLength);
  EXPECT_EQ(c.text, kReplacement);  // the incomplete character becomes one U+FFFD
}

TEST_F(ChoiceStateTest, StopStringFoundInTheFlushedTail) {
  ChoiceState s(options({kReplacement}, 1));
  ChoiceStep a = push(s, id("<0xE2>"));
  EXPECT_EQ(a.finish, FinishReason::kStop);  // kLength, then the flush found the stop string
  EXPECT_EQ(a.stop_string, kReplacement);
  EXPECT_EQ(a.text, "");
}

TEST_F(ChoiceStateTest, CancelEndsAfterTheLengthRuleAndFlushes) {
  std::atomic<bool> cancel{false};
  ChoiceOptions o = options({"lo!"}, 3);
  o.cancel = &cancel;
  ChoiceState s(std::move(o));
  EXPECT_EQ(push(s, id("▁world")).finish, FinishReason::kNone);
  cancel = true;
  ChoiceStep b = push(s, id("▁Hello"));
  EXPECT_EQ(b.finish, FinishReason::kCancelled);
  EXPECT_EQ(b.text, " Hello");  // " Hel" plus the held-back "lo"

  ChoiceOptions o2 = options({}, 1);
  o2.cancel = &cancel;
  ChoiceState s2(std::move(o2));
  EXPECT_EQ(push(s2, id("▁Hello")).finish, FinishReason::kLength);  // length wins over cancel
}

TEST_F(ChoiceStateTest, WithoutTokenizerOnlyEogAndLength) {
  ChoiceOptions o = options({}, 3);
  o.tokenizer = nullptr;
  ChoiceState s(std::move(o));
  ChoiceStep a = push(s, id("▁Hello"));
  EXPECT_EQ(a.text, "");
  EXPECT_EQ(a.finish, FinishReason::kNone);
  EXPECT_EQ(push(s, tok_->eos()).finish, FinishReason::kStop);

  ChoiceOptions o2 = options({}, 2);
  o2.tokenizer = nullptr;
  ChoiceState s2(std::move(o2));
  EXPECT_EQ(push(s2, 1'000'000).finish, FinishReason::kNone);  // no decoder: any id
  EXPECT_EQ(push(s2, id("▁Hello")).finish, FinishReason::kLength);
}

TEST_F(ChoiceStateTest, TokenOutsideTheVocabularyIsAnError) {
  ChoiceState s(options());
  auto r = s.push(static_cast<int32_t>(tok_->n_tokens()));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(s.generated(), 1u);  // counted; the caller ends the choice
}

}  // namespace
}  // namespace dari
