// Renders every (template, case) pair of testdata/chat-templates and compares byte for byte
// with the expected files (or checks that the "error" pairs fail). The second suite does the same
// for tests/template/goldens (parallel tool calls with string arguments, Korean text, tool
// descriptions that Python Jinja's Markup escapes; made by goldens/make_goldens.py with Python
// Jinja2 over the templates of testdata/chat-templates).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dari/template/chat_template.h"

namespace {

using Json = nlohmann::ordered_json;

const std::string kDir = std::string(DARI_TESTDATA_DIR) + "/chat-templates/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Where a golden set lives: `dir` holds index.json, cases.json and the expected files;
// templates are read from `templates`.
struct GoldenSet {
  std::string dir;
  std::string templates;
};

const GoldenSet kData{kDir, kDir};
const GoldenSet kExtra{std::string(DARI_TEMPLATE_GOLDENS_DIR) + "/", kDir};

struct GoldenCase {
  std::string name;
  Json entry;
  const GoldenSet* set = nullptr;
};

// Keeps gtest from dumping the struct's bytes in failure messages.
void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

std::vector<GoldenCase> load_cases(const GoldenSet& set) {
  std::vector<GoldenCase> out;
  Json index = Json::parse(slurp(set.dir + "index.json"), nullptr, false);
  if (index.is_discarded() || !index.contains("entries")) return out;
  for (const auto& e : index["entries"]) {
    std::string name = e["template"].get<std::string>() + "__" + e["case"].get<std::string>();
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    out.push_back({name, e, &set});
  }
  return out;
}

Json find_case(const GoldenSet& set, const std::string& name) {
  const Json cases = Json::parse(slurp(set.dir + "cases.json"), nullptr, false);
  if (cases.is_discarded()) return nullptr;
  for (const auto& c : cases)
    if (c["name"] == name) return c;
  return nullptr;
}

// 2024-07-26T00:00:00 UTC, the fixed time of the goldens.
constexpr int64_t kFixedNow = 1721952000;

dari::jinja::ChatTemplateInputs inputs_for(const GoldenSet& set, const Json& entry) {
  Json c = find_case(set, entry["case"].get<std::string>());
  dari::jinja::ChatTemplateInputs in;
  in.messages = c["messages"];
  if (entry["tools_passed"].get<bool>()) in.tools = c["tools"];
  in.add_generation_prompt = entry["add_generation_prompt"].get<bool>();
  if (entry["bos_token"].is_string()) in.bos_token = entry["bos_token"].get<std::string>();
  if (entry["eos_token"].is_string()) in.eos_token = entry["eos_token"].get<std::string>();
  for (const auto& [k, v] : entry["extra_vars"].items()) in.extra_vars[k] = v;
  in.now = std::chrono::system_clock::time_point(std::chrono::seconds(kFixedNow));
  return in;
}

void check_golden(const GoldenCase& c) {
  const Json& entry = c.entry;
  std::string source = slurp(c.set->templates + entry["template_file"].get<std::string>());
  ASSERT_FALSE(source.empty());
  auto r = dari::jinja::render_chat_template(source, inputs_for(*c.set, entry));
  if (entry["status"] == "error") {
    EXPECT_FALSE(r.ok()) << "expected an error like: " << entry["error"].get<std::string>()
                         << "\ngot:\n" << (r.ok() ? *r : "");
    // raise_exception() messages must surface verbatim.
    const std::string py = entry["error"].get<std::string>();
    const std::string kRaised = "TemplateError: ";
    if (!r.ok() && py.rfind(kRaised, 0) == 0) {
      EXPECT_NE(r.message().find(py.substr(kRaised.size())), std::string::npos) << r.message();
    }
    return;
  }
  ASSERT_TRUE(r.ok()) << r.message();
  std::string expected = slurp(c.set->dir + entry["expected_file"].get<std::string>());
  EXPECT_EQ(*r, expected);
}

class ChatTemplateGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(ChatTemplateGolden, MatchesPythonJinja) { check_golden(GetParam()); }

TEST(ChatTemplateGoldenIndex, HasAllEntries) { EXPECT_EQ(load_cases(kData).size(), 207u); }

INSTANTIATE_TEST_SUITE_P(All, ChatTemplateGolden, ::testing::ValuesIn(load_cases(kData)),
                         [](const ::testing::TestParamInfo<GoldenCase>& p) { return p.param.name; });

// tests/template/goldens (see goldens/README.md).
class ChatTemplateExtraGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(ChatTemplateExtraGolden, MatchesPythonJinja) { check_golden(GetParam()); }

TEST(ChatTemplateExtraGoldenIndex, HasAllEntries) {
  const auto cases = load_cases(kExtra);
  EXPECT_EQ(cases.size(), 65u);
  size_t ok = 0;
  for (const auto& c : cases) ok += c.entry["status"] == "ok";
  EXPECT_EQ(ok, 46u);
}

INSTANTIATE_TEST_SUITE_P(Extra, ChatTemplateExtraGolden, ::testing::ValuesIn(load_cases(kExtra)),
                         [](const ::testing::TestParamInfo<GoldenCase>& p) { return p.param.name; });

}  // namespace
