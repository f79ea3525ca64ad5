// End-to-end tests of `dari run` and `dari chat` through the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cli_runner.h"

namespace {

const std::string kDari = std::string(DARI_BINARY_DIR) + "/dari";
// DARI_TEST_STORIES_MODEL overrides the model path (for trying a locally rewritten copy).
const std::string kModel = std::getenv("DARI_TEST_STORIES_MODEL") != nullptr
                               ? std::string(std::getenv("DARI_TEST_STORIES_MODEL"))
                               : std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
const std::string kTmp = std::string(DARI_BINARY_DIR) + "/tests/engine";

using Output = dari::test::CliOutput;
using dari::test::slurp;

// Runs `args` (already shell-quoted) with stdout and stderr captured in files.
Output run_dari(const std::string& name, const std::string& args, const std::string& stdin_text) {
  return dari::test::run_cli(kDari, kTmp, name, args, stdin_text);
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(DariCli, RunPrintsExactGreedyContinuation) {
  const Output o =
      run_dari("run", "run -m '" + kModel + "' -p 'Once upon a time' -n 48 --temp 0", "");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out,
            ", there was a little girl named Lily. She loved to play outside in the park. One "
            "day, she saw a big, red ball. She wanted to play with it,");
  EXPECT_NE(o.err.find("generation time"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("48 tokens"), std::string::npos) << o.err;
}

TEST(DariCli, RunPromptFromStdinAndSeed) {
  const std::string args = "run -m '" + kModel + "' --stdin -n 16 --seed 7";
  const Output a = run_dari("run_stdin_a", args, "Once upon a time");
  const Output b = run_dari("run_stdin_b", args, "Once upon a time");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.err.find("seed 7"), std::string::npos);
}

Output run_dari_with_default(const std::string& name, const std::string& default_model,
                             const std::string& args) {
  ::setenv("DARI_DEFAULT_MODEL", default_model.c_str(), 1);
  Output o = run_dari(name, args, "");
  ::unsetenv("DARI_DEFAULT_MODEL");
  return o;
}

TEST(DariCli, RunWithoutModelUsesTheDefaultModelAndSaysWhich) {
  const Output o =
      run_dari_with_default("run_default", kModel, "run -p 'Once upon a time' -n 48 --temp 0");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.err.find("using the default model"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("stories260K.gguf"), std::string::npos) << o.err;
  EXPECT_EQ(o.out.rfind(", there was a little girl named Lily.", 0), 0u) << o.out;
}

TEST(DariCli, RunWithoutModelFailsWhenTheDefaultIsMissing) {
  const Output o = run_dari_with_default("run_nomodel", kTmp + "/no-such-model.gguf", "run -p hi");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("no model given (-m)"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("no-such-model.gguf"), std::string::npos) << o.err;
}

TEST(DariCli, RunPromptTooLongForContext) {
  const Output o = run_dari("run_long", "run -m '" + kModel + "' -c 4 -p 'Once upon a time'", "");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("context holds 4"), std::string::npos) << o.err;
  EXPECT_TRUE(o.out.empty());
}

TEST(DariCli, ChatTwoTurnsFromPipe) {
  const Output o = run_dari("chat", "chat -m '" + kModel + "' -n 24 --temp 0 -v",
                            "Tell me a story.\nWhat happened next?\n");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(count(o.err, "finish reason"), 2u) << o.err;
  EXPECT_GE(count(o.out, "\n"), 2u);
  EXPECT_EQ(o.out.find("User:"), std::string::npos);  // stop string never printed
  // Second turn reuses the cached first turn.
  const size_t second = o.err.rfind("prompt eval time");
  ASSERT_NE(second, std::string::npos);
  EXPECT_EQ(o.err.find(" 0 cached", second), std::string::npos) << o.err;
}

}  // namespace
