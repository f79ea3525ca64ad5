// The README is the front door: this test runs every command its "Using dari" block shows, in
// order, with the built binary in place of build/release/dari and the capitalised placeholders
// replaced by files it makes (see placeholder_files()), and checks what each printed. It also
// runs the dari line of scripts/quickstart.sh (the README's first command) and checks that the
// README's two commands are the scripts that CI calls. A README line whose subcommand has no
// check here fails the test, so a new documented command gets a check when it is documented.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "convert/hf_fixture.h"

namespace fs = std::filesystem;

namespace {

const std::string kDari = std::string(DARI_BINARY_DIR) + "/dari";
const fs::path kSource = DARI_SOURCE_DIR;
// Where the commands of the running test run and write: a folder per test (CTest runs the tests
// of this file in parallel processes), removed and made anew by each test's SetUp.
fs::path work_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return fs::path(DARI_BINARY_DIR) / "tests" / "readme" / "work" / info->name();
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The lines of the first ```sh block after `heading`, with trailing `# comments` removed.
std::vector<std::string> sh_block_after(const std::string& text, const std::string& heading) {
  std::vector<std::string> lines;
  size_t at = text.find(heading);
  if (at == std::string::npos) return lines;
  at = text.find("```sh\n", at);
  if (at == std::string::npos) return lines;
  std::istringstream in(text.substr(at + 6));
  for (std::string line; std::getline(in, line) && line.rfind("```", 0) != 0;) {
    if (size_t hash = line.find(" #"); hash != std::string::npos) line.resize(hash);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  }
  return lines;
}

struct CmdResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a shell command line in the work folder with a time limit (seconds).
CmdResult run_shell(const std::string& cmd, int limit_s, const std::string& stdin_text = "") {
  const fs::path in = work_dir() / "cmd.in", out = work_dir() / "cmd.out", err = work_dir() / "cmd.err";
  std::ofstream(in, std::ios::binary) << stdin_text;
  const std::string line = "cd " + quote(work_dir().string()) + " && timeout " +
                           std::to_string(limit_s) + " sh -c " + quote(cmd) + " <" +
                           quote(in.string()) + " >" + quote(out.string()) + " 2>" +
                           quote(err.string());
  const int rc = std::system(line.c_str());
  CmdResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// A `dari serve` started from a README line (with --host 127.0.0.1 --port 0 added), killed on
// destruction so that a failed assertion leaves no server behind.
class Server {
 public:
  static std::optional<Server> start(const std::string& cmd) {
    int fds[2];
    if (::pipe(fds) != 0) return std::nullopt;
    Server s;
    const std::string dir = work_dir().string();
    const std::string full = "exec " + cmd + " 2>serve.log";
    s.pid_ = ::fork();
    if (s.pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      if (::chdir(dir.c_str()) != 0) ::_exit(126);
      ::execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    s.fd_ = fds[0];
    if (s.pid_ < 0) return std::nullopt;
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{s.fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(s.fd_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("listening on (https?://127\\.0\\.0\\.1:[0-9]+)"))) {
      return std::nullopt;
    }
    s.url_ = m[1];
    return s;
  }
  Server(Server&& o) noexcept : pid_(o.pid_), fd_(o.fd_), url_(std::move(o.url_)) {
    o.pid_ = -1;
    o.fd_ = -1;
  }
  Server& operator=(Server&&) = delete;
  ~Server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& url() const { return url_; }
  // SIGTERM (drain and exit); returns the exit status.
  int stop() {
    int status = -1;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  Server() = default;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string url_;
};

// Writes the files the placeholders stand for; returns placeholder -> path (or value).
std::map<std::string, std::string> placeholder_files() {
  const std::string model = (kSource / "models" / "dari-tiny.gguf").string();
  const fs::path messages = work_dir() / "messages.json";
  std::ofstream(messages) << R"([{"role":"system","content":"You are brief."},)"
                          << R"({"role":"user","content":"안녕하세요, what is a bridge?"}])";
  const fs::path policy = work_dir() / "policy.toml";
  std::ofstream(policy) << "[operator]\nname = \"README test\"\ndeployment_id = \"readme\"\n"
                           "[disclosure]\nsigning_key_file = \"dari-operator.key\"\n"
                           "[audit]\ndatabase = \"dari-audit.db\"\n"
                           "[keys]\ndatabase = \"dari-keys.db\"\n";
  dari::test::TinyModel hf;
  hf.generate(7);
  fs::create_directories(work_dir() / "hf");
  hf.write((work_dir() / "hf").string(), 1, true);
  const std::string cert = (work_dir() / "cert.pem").string(), key = (work_dir() / "key.pem").string();
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -keyout " + quote(key) + " -out " + quote(cert) + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(make_cert.c_str()), 0) << "openssl could not make a certificate";
  return {{"MODEL.gguf", model},
          {"IN.gguf", model},
          {"OUT.gguf", (work_dir() / "out.gguf").string()},
          {"HF_DIR", (work_dir() / "hf").string()},
          {"T.jinja", (kSource / "tests/data/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja").string()},
          {"M.json", messages.string()},
          {"P.toml", policy.string()},
          {"C.pem", cert},
          {"K.pem", key},
          {"RESPONSE.json", (work_dir() / "response.json").string()}};
}

// "build/release/dari a [b c] X.gguf" -> "'<binary>' a b c /path/X.gguf"; every capitalised
// placeholder must be known.
std::string substitute(std::string line, const std::map<std::string, std::string>& files) {
  const std::string prefix = "build/release/dari";
  line = quote(kDari) + line.substr(prefix.size());
  line = std::regex_replace(line, std::regex("\\[([^\\]]*)\\]"), "$1");
  for (const auto& [name, path] : files) {
    line = std::regex_replace(line, std::regex("(^| )" + std::regex_replace(name, std::regex("\\."), "\\.") + "( |$)"),
                              "$1" + quote(path) + "$2");
  }
  std::smatch m;
  EXPECT_FALSE(std::regex_search(line, m, std::regex(" ([A-Z][A-Z_]+(\\.[a-z]+)?)( |$)")))
      << "unknown placeholder " << m[1] << " in: " << line;
  return line;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Starts a README serve line, asks it one chat completion (saved as RESPONSE.json for `dari
// verify`), and stops it with SIGTERM.
void check_serve(const std::string& cmd, const std::map<std::string, std::string>& files) {
  std::string line = std::regex_replace(cmd, std::regex(" --port [0-9]+"), "");
  auto server = Server::start(line + " --host 127.0.0.1 --port 0");
  ASSERT_TRUE(server.has_value()) << slurp(work_dir() / "serve.log");
  const std::string body =
      R"({"model":"dari-tiny","messages":[{"role":"user","content":"And it came to pass"}],)"
      R"("max_tokens":12})";
  const bool tls = server->url().rfind("https", 0) == 0;
  const std::string saved = tls ? (work_dir() / "response-tls.json").string() : files.at("RESPONSE.json");
  const CmdResult r = run_shell(std::string("curl -sS ") + (tls ? "-k " : "") +
                              "-D headers.txt -H 'Content-Type: application/json' -d " +
                              quote(body) + " -o " + quote(saved) + " " + server->url() +
                              "/v1/chat/completions",
                          60);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto reply = nlohmann::json::parse(slurp(saved), nullptr, false);
  ASSERT_TRUE(reply.is_object() && reply.contains("choices")) << slurp(saved);
  EXPECT_TRUE(has(slurp(work_dir() / "headers.txt"), "X-AI-Generated: true"));
  EXPECT_EQ(server->stop(), 0) << slurp(work_dir() / "serve.log");
}

using Check = std::function<void(const std::string& cmd, const CmdResult& r)>;

void expect_ok(const CmdResult& r) { EXPECT_EQ(r.status, 0) << r.out << r.err; }

// What each documented subcommand must print (the words after build/release/dari).
const std::vector<std::pair<std::string, Check>>& checks() {
  static const std::vector<std::pair<std::string, Check>> table = {
      {"run", [](const std::string&, const CmdResult& r) { expect_ok(r); EXPECT_GT(r.out.size(), 20u); }},
      {"inspect", [](const std::string& cmd, const CmdResult& r) {
         expect_ok(r);
         if (has(cmd, "--json")) {
           EXPECT_TRUE(nlohmann::json::parse(r.out, nullptr, false).is_object()) << r.out;
         }
         EXPECT_TRUE(has(r.out, "llama")) << r.out;
       }},
      {"tokenize", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         const auto ids = nlohmann::json::parse(r.out, nullptr, false);
         EXPECT_TRUE(ids.is_array() && !ids.empty()) << r.out;
       }},
      {"chat", [](const std::string&, const CmdResult& r) { expect_ok(r); EXPECT_FALSE(r.out.empty()); }},
      {"template", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_TRUE(has(r.out, "<|im_start|>user\n안녕하세요")) << r.out;
         EXPECT_TRUE(has(r.out, "<|im_start|>assistant\n")) << r.out;
       }},
      {"convert", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_EQ(slurp(work_dir() / "out.gguf").substr(0, 4), "GGUF");
       }},
      {"quantize", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_EQ(slurp(work_dir() / "out.gguf").substr(0, 4), "GGUF");
       }},
      {"policy check", [](const std::string&, const CmdResult& r) { expect_ok(r); }},
      {"keys init", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_TRUE(fs::exists(work_dir() / "dari-operator.key.pub"));
       }},
      {"keys create", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_EQ(r.out.rfind("dari_", 0), 0u) << r.out;  // the key, printed once
       }},
      {"verify", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_TRUE(has(r.out, "INTACT")) << r.out;
       }},
      {"audit verify", [](const std::string&, const CmdResult& r) { expect_ok(r); }},
      {"bench-serve", [](const std::string&, const CmdResult& r) { expect_ok(r); }},
      {"devices", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_TRUE(has(r.out, "cpu")) << r.out;
         EXPECT_TRUE(has(r.out, "vulkan")) << r.out;  // the plugin beside the binary
       }},
      {"backend-test", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_TRUE(has(r.out, " 0 failed")) << r.out;
       }},
      {"bench", [](const std::string&, const CmdResult& r) {
         expect_ok(r);
         EXPECT_TRUE(has(r.out, "pp512")) << r.out;
         EXPECT_TRUE(has(r.out, "tg128")) << r.out;
       }},
  };
  return table;
}

class Readme : public ::testing::Test {
 protected:
  void SetUp() override {
    std::error_code ec;
    fs::remove_all(work_dir(), ec);
    fs::create_directories(work_dir());
  }
};

TEST_F(Readme, EveryDocumentedCommandRuns) {
  const std::vector<std::string> lines = sh_block_after(slurp(kSource / "README.md"), "## Using dari");
  ASSERT_GE(lines.size(), 10u) << "the README's \"Using dari\" block was not found";
  const auto files = placeholder_files();
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    ASSERT_EQ(line.rfind("build/release/dari ", 0), 0u) << "a README command that is not dari's";
    const std::string cmd = substitute(line, files);
    const std::string words = line.substr(std::string("build/release/dari ").size());
    if (words.rfind("serve ", 0) == 0) {
      check_serve(cmd, files);
      continue;
    }
    // The subcommand's words without its options ("keys --policy P.toml init" -> "keys init").
    const std::string bare = std::regex_replace(words, std::regex(" --?[a-z-]+ [^ -][^ ]*"), "");
    const Check* check = nullptr;
    for (const auto& [name, fn] : checks()) {
      if (bare == name || bare.rfind(name + " ", 0) == 0) {
        check = &fn;
        break;
      }
    }
    ASSERT_NE(check, nullptr) << "no check for this README command: add one to readme_test.cpp";
    (*check)(cmd, run_shell(cmd, 600, "And it came to pass\n"));
  }
}

// The README's first command ends by running dari on the default model: run that line.
TEST_F(Readme, QuickstartRunLineGeneratesText) {
  std::istringstream in(slurp(kSource / "scripts" / "quickstart.sh"));
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("build/release/dari ", 0) == 0) last = line;
  }
  ASSERT_FALSE(last.empty()) << "scripts/quickstart.sh no longer runs build/release/dari";
  last = quote(kDari) + last.substr(std::string("build/release/dari").size());
  const CmdResult r = run_shell("set --; " + last, 120);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_GT(r.out.size(), 20u) << r.out;
}

// The two commands of the README's front door are the scripts that exist and that CI runs.
TEST_F(Readme, FrontDoorCommandsAreTheScriptsCiRuns) {
  const std::vector<std::string> lines = sh_block_after(slurp(kSource / "README.md"), "# dari");
  ASSERT_EQ(lines, (std::vector<std::string>{"scripts/quickstart.sh", "scripts/test.sh"}));
  for (const std::string& script : lines) {
    EXPECT_EQ(::access((kSource / script).c_str(), X_OK), 0) << script << " is not executable";
  }
  EXPECT_TRUE(has(slurp(kSource / ".ci" / "run"), "scripts/test.sh"));
}

}  // namespace
