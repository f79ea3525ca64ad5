// End-to-end: `dari template` on a golden case must print exactly the expected bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

using Json = nlohmann::ordered_json;
const std::string kDir = std::string(DARI_TESTDATA_DIR) + "/chat-templates/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Runs a shell command; returns its exit status and captures stdout.
int run(const std::string& cmd, std::string& out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string work_dir() {
  std::string d = std::string(DARI_BINARY_DIR) + "/tests/template/cli_work";
  std::filesystem::create_directories(d);
  return d;
}

TEST(TemplateCli, RendersGoldenToolCallByteForByte) {
  Json cases = Json::parse(slurp(kDir + "cases.json"));
  Json tool_case;
  for (const auto& c : cases)
    if (c["name"] == "tool_call") tool_case = c;
  ASSERT_TRUE(tool_case.is_object());
  std::string dir = work_dir();
  write_file(dir + "/messages.json", tool_case["messages"].dump());
  write_file(dir + "/tools.json", tool_case["tools"].dump());
  std::string cmd = std::string(DARI_BINARY_DIR) + "/dari template --template " + kDir +
                    "Qwen-Qwen2.5-7B-Instruct.jinja --messages " + dir + "/messages.json --tools " + dir +
                    "/tools.json --add-generation-prompt --eos-token '<|im_end|>' --now 2024-07-26T00:00:00";
  std::string out;
  ASSERT_EQ(run(cmd, out), 0) << cmd;
  EXPECT_EQ(out, slurp(kDir + "expected/Qwen-Qwen2.5-7B-Instruct__tool_call.txt"));
}

TEST(TemplateCli, LlamaWithDateVarAndBos) {
  Json cases = Json::parse(slurp(kDir + "cases.json"));
  std::string dir = work_dir();
  write_file(dir + "/su.json", cases[0]["messages"].dump());
  ASSERT_EQ(cases[0]["name"], "system_user");
  std::string cmd = std::string(DARI_BINARY_DIR) + "/dari template --template " + kDir +
                    "meta-llama-Llama-3.2-3B-Instruct.jinja --messages " + dir +
                    "/su.json --add-generation-prompt --bos-token '<|begin_of_text|>' --eos-token '<|eot_id|>'"
                    " --var 'date_string=\"26 Jul 2024\"'";
  std::string out;
  ASSERT_EQ(run(cmd, out), 0) << cmd;
  EXPECT_EQ(out, slurp(kDir + "expected/meta-llama-Llama-3.2-3B-Instruct__system_user.txt"));
}

TEST(TemplateCli, RaiseExceptionExitsNonZeroWithMessage) {
  std::string dir = work_dir();
  write_file(dir + "/sys.json", R"([{"role":"system","content":"x"},{"role":"user","content":"y"}])");
  std::string cmd = std::string(DARI_BINARY_DIR) + "/dari template --template " + kDir +
                    "google-gemma-2-2b-it.jinja --messages " + dir + "/sys.json --bos-token '<bos>' 2>&1";
  std::string out;
  EXPECT_EQ(run(cmd, out), 1);
  EXPECT_EQ(out.rfind("dari: error: ", 0), 0u) << out;
  EXPECT_NE(out.find("System role not supported"), std::string::npos) << out;
}

}  // namespace
