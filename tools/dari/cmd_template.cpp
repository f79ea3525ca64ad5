// `dari template`: render a chat template with a conversation and print the exact text.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "dari/template/chat_template.h"

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

bool read_json(const std::string& path, nlohmann::ordered_json& out, std::string& err) {
  std::string text;
  if (!read_file(path, text)) {
    err = path + ": cannot read file";
    return false;
  }
  out = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    err = path + ": invalid JSON";
    return false;
  }
  return true;
}

// "YYYY-MM-DDTHH:MM:SS" (UTC; a trailing "Z" is accepted) -> time point.
bool parse_iso8601(const std::string& s, std::chrono::system_clock::time_point& out) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char tail = 0;
  int n = std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
  if (n == 3 && std::sscanf(s.c_str(), "%d-%d-%d%c", &y, &mo, &d, &tail) == 3) {
    h = mi = sec = 0;
  } else if (n < 6 || (n == 7 && tail != 'Z')) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
    return false;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  out = std::chrono::system_clock::from_time_t(timegm(&tm));
  return true;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "dari: error: %s\n", msg.c_str());
  return 1;
}

struct TemplateArgs {
  std::string template_path, messages_path, tools_path, now;
  std::string bos, eos;
  bool add_generation_prompt = false;
  std::vector<std::string> vars;
};

int run_template(const TemplateArgs& a, bool has_bos, bool has_eos) {
  std::string source, err;
  if (!read_file(a.template_path, source)) return fail(a.template_path + ": cannot read file");
  dari::jinja::ChatTemplateInputs in;
  if (!read_json(a.messages_path, in.messages, err)) return fail(err);
  if (!a.tools_path.empty() && !read_json(a.tools_path, in.tools, err)) return fail(err);
  in.add_generation_prompt = a.add_generation_prompt;
  if (has_bos) in.bos_token = a.bos;
  if (has_eos) in.eos_token = a.eos;
  for (const std::string& v : a.vars) {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) return fail("--var expects NAME=JSON, got '" + v + "'");
    auto j = nlohmann::ordered_json::parse(v.substr(eq + 1), nullptr, false);
    if (j.is_discarded()) return fail("--var " + v.substr(0, eq) + ": value is not valid JSON");
    in.extra_vars[v.substr(0, eq)] = j;
  }
  in.now = std::chrono::system_clock::now();
  if (!a.now.empty() && !parse_iso8601(a.now, in.now)) return fail("--now: expected YYYY-MM-DDTHH:MM:SS, got '" + a.now + "'");
  auto r = dari::jinja::render_chat_template(source, in);
  if (!r.ok()) return fail(a.template_path + ": " + r.message());
  std::fwrite(r->data(), 1, r->size(), stdout);
  std::fflush(stdout);
  return 0;
}

std::function<int()> setup(CLI::App& sub) {
  auto a = std::make_shared<TemplateArgs>();
  sub.add_option("--template", a->template_path, "Jinja chat template file")->required();
  sub.add_option("--messages", a->messages_path, "JSON array of messages")->required();
  sub.add_option("--tools", a->tools_path, "JSON array of tools (defines `tools`)");
  sub.add_flag("--add-generation-prompt", a->add_generation_prompt, "Set add_generation_prompt");
  auto* bos = sub.add_option("--bos-token", a->bos, "Define bos_token");
  auto* eos = sub.add_option("--eos-token", a->eos, "Define eos_token");
  sub.add_option("--var", a->vars, "Extra variable NAME=JSON (repeatable)");
  sub.add_option("--now", a->now, "Time for strftime_now, YYYY-MM-DDTHH:MM:SS UTC (default: now)");
  return [a, bos, eos]() { return run_template(*a, bos->count() > 0, eos->count() > 0); };
}

}  // namespace

DARI_COMMAND("template", "Render a chat template with messages and print the exact text", setup);
