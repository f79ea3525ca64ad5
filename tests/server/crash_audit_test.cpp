// Crash safety of the audit trail through the real `dari serve` binary: 16 clients stream chat
// completions, the server is killed with SIGKILL mid-run, and afterwards `dari audit verify`
// passes and every request whose client saw "data: [DONE]" has its audit record (the server
// holds the final bytes until the record's batch is committed). Then the server restarts on the
// same database, serves again, and the chain still verifies.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kDari = std::string(DARI_BINARY_DIR) + "/dari";
const std::string kModel = std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf";

// A `dari serve` child process; its stdout is read for the port, its stderr goes to a log file.
// Killed (SIGKILL) when destroyed, so a failed assertion leaves no server behind.
struct Serve {
  pid_t pid = -1;
  int out_fd = -1;
  uint16_t port = 0;

  Serve() = default;
  Serve(Serve&& o) noexcept : pid(o.pid), out_fd(o.out_fd), port(o.port) {
    o.pid = -1;
    o.out_fd = -1;
  }
  Serve& operator=(Serve&&) = delete;
  ~Serve() { kill_now(); }

  static std::optional<Serve> start(const fs::path& policy, const fs::path& log) {
    int fds[2];
    if (::pipe(fds) != 0) return std::nullopt;
    Serve s;
    s.pid = ::fork();
    if (s.pid == 0) {
      ::dup2(fds[1], 1);
      std::FILE* err = std::fopen(log.c_str(), "ab");
      if (err != nullptr) ::dup2(::fileno(err), 2);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl(kDari.c_str(), kDari.c_str(), "serve", "--model", kModel.c_str(), "--host",
              "127.0.0.1", "--port", "0", "--policy", policy.c_str(), "--parallel", "8",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    s.out_fd = fds[0];
    if (s.pid < 0) return std::nullopt;
    // "dari serve: listening on http://127.0.0.1:PORT (model '...')"
    std::string out;
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (out.find('\n') == std::string::npos && Clock::now() < deadline) {
      pollfd p{s.out_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(s.out_fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    const std::string tag = "listening on http://127.0.0.1:";
    size_t at = out.find(tag);
    if (at == std::string::npos) {
      s.kill_now();
      return std::nullopt;
    }
    s.port = static_cast<uint16_t>(std::stoi(out.substr(at + tag.size())));
    return s;
  }
  void kill_now() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (out_fd >= 0) ::close(out_fd);
    out_fd = -1;
  }
  int stop() {  // SIGTERM: drain and exit; returns the exit status
    int status = -1;
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
    if (out_fd >= 0) ::close(out_fd);
    out_fd = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

struct Reply {
  bool done = false;  // "data: [DONE]" (streams) or a complete 200 body was seen
  std::string id;     // the response id, which is the audit record's request_id
};

// One request on a fresh loopback connection (Connection: close); reads until EOF or 10 s.
Reply ask(uint16_t port, bool stream) {
  Reply r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return r;
  }
  const std::string body = std::string(R"({"model":"dari-tiny","max_tokens":12,"stream":)") +
                           (stream ? "true" : "false") +
                           R"(,"messages":[{"role":"user","content":"Tell me a story."}]})";
  const std::string req =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string got;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
      if (stream && got.find("data: [DONE]") != std::string::npos) break;
    }
  }
  ::close(fd);
  if (got.rfind("HTTP/1.1 200", 0) != 0) return r;
  const std::string key = "\"id\":\"";
  size_t at = got.find(key);
  if (at == std::string::npos) return r;
  size_t end = got.find('"', at + key.size());
  if (end == std::string::npos) return r;
  r.id = got.substr(at + key.size(), end - at - key.size());
  r.done = stream ? got.find("data: [DONE]") != std::string::npos
                  : got.find("\"provenance\"") != std::string::npos;
  return r;
}

struct CliRun {
  int code = -1;
  std::string out;
};

CliRun dari(const std::string& args) {
  CliRun r;
  std::FILE* p = ::popen((kDari + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// request_id of every "request" row in the exported trail.
std::set<std::string> audited_ids(const fs::path& db) {
  std::set<std::string> ids;
  CliRun r = dari("audit export --db " + db.string() + " --format jsonl");
  EXPECT_EQ(r.code, 0) << r.out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("kind", "") == "request" && j["record"].is_object()) {
      ids.insert(j["record"].value("request_id", ""));
    }
  }
  return ids;
}

TEST(CrashAudit, KillDuringSixteenStreamsKeepsEveryCompletedRecord) {
  const fs::path dir = fs::current_path() / ("crash_audit_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path policy = dir / "policy.toml";
  std::ofstream(policy) << "[operator]\nname = \"Crash Test\"\n"
                           "[disclosure]\nsigning_key_file = \"op.key\"\n"
                           "[audit]\ndatabase = \"audit.db\"\n"
                           "[keys]\ndatabase = \"keys.db\"\nrequire = \"never\"\n";
  auto serve = Serve::start(policy, dir / "serve.log");
  ASSERT_TRUE(serve.has_value()) << "dari serve did not start; see " << (dir / "serve.log");

  std::mutex mu;
  std::set<std::string> completed;
  std::atomic<bool> killed{false};
  std::atomic<int> n_done{0};
  std::vector<std::thread> clients;
  const auto give_up = Clock::now() + std::chrono::seconds(12);
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      while (!killed.load() && Clock::now() < give_up) {
        Reply r = ask(serve->port, true);
        if (!r.done) {  // model still loading (503) or the server is gone
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        completed.insert(r.id);
        n_done.fetch_add(1);
      }
    });
  }
  // Kill once streams are flowing steadily (several requests per client have completed).
  while (n_done.load() < 64 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  serve->kill_now();
  killed.store(true);
  for (auto& t : clients) t.join();
  ASSERT_GE(n_done.load(), 16) << "too few completed requests before the kill";

  const fs::path db = dir / "audit.db";
  CliRun verify = dari("audit verify --db " + db.string());
  EXPECT_EQ(verify.code, 0) << verify.out;
  std::set<std::string> ids = audited_ids(db);
  size_t missing = 0;
  for (const auto& id : completed) {
    if (!ids.count(id)) {
      ++missing;
      ADD_FAILURE() << "request " << id << " completed for its client but has no audit record";
    }
  }
  EXPECT_EQ(missing, 0u) << completed.size() << " completed, " << ids.size() << " audited";
  std::printf("killed after %zu completed requests; %zu request records survived\n",
              completed.size(), ids.size());

  // Restart on the same database: it serves and the chain goes on intact.
  auto again = Serve::start(policy, dir / "serve.log");
  ASSERT_TRUE(again.has_value());
  Reply after;
  for (int i = 0; i < 200 && !after.done; ++i) {
    after = ask(again->port, false);
    if (!after.done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(after.done);
  EXPECT_EQ(again->stop(), 0);
  CliRun verify2 = dari("audit verify --db " + db.string());
  EXPECT_EQ(verify2.code, 0) << verify2.out;
  EXPECT_TRUE(audited_ids(db).count(after.id)) << after.id;
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
