// Incremental decoding (never a partial UTF-8 character), stop strings across token boundaries,
// and the `dari tokenize` command end to end.
#include <cstdio>
#include <filesystem>

#include "dari/tokenizer/detokenizer.h"
#include "test_util.h"

namespace dari::test {
namespace {

bool is_valid_utf8(const std::string& s) {
  std::string copy = s;
  return take_complete_utf8(&copy, true) == s;
}

TEST(IncrementalDecoder, HoldsMultiByteCharsSplitAcrossByteTokens) {
  const Tokenizer* t = load_vocab("llama-spm");
  ASSERT_NE(t, nullptr);
  // "🦙" is 4 byte-fallback tokens after the "▁" token.
  const auto ids = plain(*t, "🦙!");
  ASSERT_EQ(ids, (std::vector<TokenId>{29871, 243, 162, 169, 156, 29991}));
  IncrementalDecoder dec(*t, DecodeOptions{false, true});
  std::vector<std::string> out;
  for (TokenId id : ids) {
    auto r = dec.push(id);
    ASSERT_TRUE(r.ok()) << r.message();
    out.push_back(*r);
  }
  EXPECT_EQ(out, (std::vector<std::string>{"", "", "", "", "🦙", "!"}));
  EXPECT_EQ(dec.flush(), "");
}

TEST(IncrementalDecoder, BpeStreamsValidUtf8Only) {
  const Tokenizer* t = load_vocab("gpt-2");
  ASSERT_NE(t, nullptr);
  const std::string text = "한국어 텍스트 👨‍👩‍👧 ok";
  const auto ids = plain(*t, text);
  IncrementalDecoder dec(*t, DecodeOptions{});
  std::string all;
  size_t held_somewhere = 0;
  for (TokenId id : ids) {
    auto r = dec.push(id);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(is_valid_utf8(*r)) << "partial character emitted";
    held_somewhere += dec.pending_bytes() > 0;
    all += *r;
  }
  all += dec.flush();
  EXPECT_EQ(all, text);
  EXPECT_GT(held_somewhere, 0u);  // GPT-2 splits these characters across tokens
}

TEST(IncrementalDecoder, FlushReplacesIncompleteTailAndRejectsBadIds) {
  const Tokenizer* t = load_vocab("llama-spm");
  ASSERT_NE(t, nullptr);
  IncrementalDecoder dec(*t, DecodeOptions{});
  ASSERT_EQ(*dec.push(3 + 0xF0), "");  // <0xF0>: start of a 4-byte sequence
  ASSERT_EQ(*dec.push(3 + 0x9F), "");
  EXPECT_EQ(dec.pending_bytes(), 2u);
  auto bad = dec.push(40000);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("40000"), std::string::npos);
  EXPECT_EQ(dec.pending_bytes(), 2u);  // unchanged
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  // A byte that can never start a character is replaced at once.
  EXPECT_EQ(*dec.push(3 + 0xFF), "\xEF\xBF\xBD");
  EXPECT_EQ(*dec.push(3 + 'x'), "x");
}

TEST(IncrementalDecoder, StripsTheAddedLeadingSpaceOnlyWhenAsked) {
  const Tokenizer* t = load_vocab("llama-spm");
  ASSERT_NE(t, nullptr);
  const auto ids = t->encode("Hello world", EncodeOptions{});  // BOS Hello world
  for (bool strip : {true, false}) {
    IncrementalDecoder dec(*t, DecodeOptions{false, strip});
    std::string s;
    for (TokenId id : ids) s += *dec.push(id);
    s += dec.flush();
    EXPECT_EQ(s, strip ? "Hello world" : " Hello world");
  }
}

TEST(StopMatcher, MatchesAcrossChunkBoundaries) {
  StopMatcher m({"</s>", "\nUser:"});
  StopResult r = m.push("Hello <");
  EXPECT_EQ(r.text, "Hello ");
  EXPECT_FALSE(r.stopped);
  r = m.push("/s");
  EXPECT_EQ(r.text, "");
  r = m.push("> more");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 0u);
  EXPECT_EQ(r.text, "");
  r = m.push("anything");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, ReleasesFalseAlarmsAndReportsTextBefore) {
  StopMatcher m({"\nUser:", "###"});
  std::string emitted;
  for (const char* chunk : {"a\nUs", "ual text #", "# b", "\nU", "ser", ": x"}) {
    const StopResult r = m.push(chunk);
    emitted += r.text;
    if (r.stopped) {
      EXPECT_EQ(r.stop_index, 0u);
      break;
    }
  }
  EXPECT_EQ(emitted, "a\nUsual text ## b");  // "##" and "\nUs" were false alarms
  StopMatcher m2({"STOP"});
  std::string out = m2.push("no ST").text;
  out += m2.push("op here ST").text;
  out += m2.flush();
  EXPECT_EQ(out, "no STop here ST");
}

// --- `dari tokenize` end to end ---

struct CmdResult {
  int status = -1;
  std::string out;
};

CmdResult run(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(DariTokenizeCli, PrintsIdsAsJson) {
  const std::string bin = std::string(DARI_BINARY_DIR) + "/dari";
  if (!std::filesystem::exists(bin)) GTEST_SKIP() << bin << " not built";
  const std::string m = " -m '" + vocab_path("llama-spm") + "'";
  EXPECT_EQ(run(bin + " tokenize" + m + " -p 'Hello world'").out, "[1,15043,3186]\n");
  EXPECT_EQ(run(bin + " tokenize" + m + " -p 'Hello world' --no-bos").out, "[15043,3186]\n");
  EXPECT_EQ(run(bin + " tokenize" + m + " -p 'Hi' --no-bos --pieces").out,
            "[{\"id\":6324,\"piece\":\" Hi\"}]\n");
  EXPECT_EQ(run("printf 'Hello world' | " + bin + " tokenize" + m + " --stdin").out,
            "[1,15043,3186]\n");
  const std::string l3 = " -m '" + vocab_path("llama-bpe") + "' --no-bos";
  EXPECT_EQ(run(bin + " tokenize" + l3 + " -p '<|eot_id|>' --parse-special").out, "[128009]\n");
  EXPECT_EQ(run(bin + " tokenize" + l3 + " -p '<|eot_id|>'").out, "[27,91,68,354,851,91,29]\n");
  const CmdResult missing = run(bin + " tokenize -m /nonexistent.gguf -p x");
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(run(bin + " tokenize" + m).status, 1);  // no input given
}

}  // namespace
}  // namespace dari::test
