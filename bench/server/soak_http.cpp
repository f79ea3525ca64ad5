// soak_http: soak load generator for `dari serve` with mixed well-behaved and hostile clients.
//
//   soak_http --port P [--host 127.0.0.1] [--pid PID] [--duration 600] [--clients 32]
//             [--model ID] [--max-tokens 24] [--max-body 8388608] [--header-timeout 10]
//             [--warmup S] [--rss-interval 5] [--rss-growth-pct 10] [--rss-slack-mb 8]
//             [--idle-wait 30] [--wait-ready 30] [--seed 1]
//
// --clients threads stay busy for --duration seconds, each picking its next client behaviour at
// random: valid chat/completions requests, streaming and not (every response checked: object
// types, finish_reason, usage, [DONE]); slow readers (small receive buffer, small reads with
// pauses; must still complete); invalid JSON and invalid fields (400 with OpenAI's exact error
// shape and the field named); bodies over --max-body (the server's limit: 413); clients that drop
// the connection mid-stream; slowloris clients that trickle header lines (the server must answer
// 408 or close within --header-timeout, its header deadline, plus 5 s).
// With --pid, the server's VmRSS is sampled every --rss-interval seconds; the samples after
// --warmup (default: a fifth of the run, at most 60 s) are cut into thirds, and the average of the
// last third must not exceed the first third's by more than --rss-growth-pct % + --rss-slack-mb.
// At the end it waits (at most --idle-wait s) for GET /metrics to show no running or waiting
// sequence, no HTTP request in flight and no KV block in use by a sequence (blocks kept only by
// the prefix cache are reported, not counted).
// Exit status 1, with the reasons printed, on: a refused or failed connection, the server process
// gone, any valid request not completed correctly, any hostile client answered otherwise than
// expected, RSS growth over the bound, or the engine not idle at the end. 2: bad arguments.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "load_client.h"
#include "soak_checks.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace dari::bench;

struct Args {
  Target target;
  long pid = 0;
  double duration_s = 600;
  int clients = 32;
  std::string model = "dari-tiny";
  int max_tokens = 24;
  uint64_t max_body = 8u << 20;
  double header_timeout_s = 10;
  double warmup_s = -1;  // < 0: a fifth of the run, at most 60 s
  double rss_interval_s = 5;
  double rss_growth_pct = 10;
  double rss_slack_mb = 8;
  double idle_wait_s = 30;
  double wait_ready_s = 30;
  uint64_t seed = 1;
};

enum Kind {
  kChat,
  kChatStream,
  kCompletion,
  kCompletionStream,
  kSlowReader,
  kInvalidJson,
  kInvalidField,
  kOversized,
  kDisconnect,
  kSlowloris,
  kKinds
};

struct KindInfo {
  const char* name;
  int weight;
  bool valid;  // a well-formed request that must complete
};

constexpr KindInfo kInfo[kKinds] = {
    {"chat", 5, true},           {"chat-stream", 6, true},
    {"completion", 4, true},     {"completion-stream", 5, true},
    {"slow-reader", 2, true},    {"invalid-json", 3, false},
    {"invalid-field", 3, false}, {"oversized", 1, false},
    {"disconnect", 2, false},    {"slowloris", 1, false},
};

// Shared by the client threads (atomics, and a mutex for the messages).
struct Tally {
  std::atomic<uint64_t> ok[kKinds] = {};
  std::atomic<uint64_t> failed[kKinds] = {};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> slowloris_408{0};     // answered 408 (else closed without an answer)
  std::atomic<uint64_t> disconnect_reset{0};  // dropped with RST (else an orderly close)
  std::mutex mu;
  std::vector<std::string> problems;  // the first few, for the report

  void fail(Kind k, const std::string& what) {
    failed[k].fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    if (problems.size() < 20) problems.push_back(std::string(kInfo[k].name) + ": " + what);
  }
};

// One load thread: its RNG, its keep-alive connection and what it has seen.
class Client {
 public:
  Client(const Args& a, Tally& t, uint64_t seed) : a_(a), t_(t), rng_(seed) {}
  void run(Clock::time_point end) {
    while (Clock::now() < end) one(pick());
  }

 private:
  Kind pick() {
    int total = 0;
    for (const auto& k : kInfo) total += k.weight;
    int r = std::uniform_int_distribution<int>(0, total - 1)(rng_);
    for (int k = 0; k < kKinds; ++k) {
      if (r < kInfo[k].weight) return static_cast<Kind>(k);
      r -= kInfo[k].weight;
    }
    return kChat;
  }

  void one(Kind k) {
    std::string problem;
    switch (k) {
      case kChat:
        problem = plain(Api::kChat);
        break;
      case kCompletion:
        problem = plain(Api::kCompletions);
        break;
      case kChatStream:
        problem = stream(Api::kChat, false);
        break;
      case kCompletionStream:
        problem = stream(Api::kCompletions, false);
        break;
      case kSlowReader:
        problem = stream(rng_() % 2 ? Api::kChat : Api::kCompletions, true);
        break;
      case kInvalidJson:
        problem = invalid_json();
        break;
      case kInvalidField:
        problem = invalid_field();
        break;
      case kOversized:
        problem = oversized();
        break;
      case kDisconnect:
        problem = disconnect();
        break;
      case kSlowloris:
        problem = slowloris();
        break;
      default:
        break;
    }
    if (problem.empty()) {
      t_.ok[k].fetch_add(1);
    } else {
      t_.fail(k, problem);
    }
  }

  json body(Api api, bool stream, int max_tokens) {
    static const char* kPrompts[] = {"And it came to pass", "In the beginning",
                                     "The quick brown fox", "Once upon a time"};
    const std::string p = std::string(kPrompts[rng_() % 4]) + " " + std::to_string(rng_() % 1000);
    json b = {{"model", a_.model},
              {"max_tokens", max_tokens},
              {"temperature", 0.7},
              {"seed", rng_() % 100000}};
    if (api == Api::kChat) {
      b["messages"] = {{{"role", "system"}, {"content", "You are terse."}},
                       {{"role", "user"}, {"content", p}}};
    } else {
      b["prompt"] = p;
    }
    if (stream) b["stream"] = true;
    return b;
  }
  static const char* path(Api api) {
    return api == Api::kChat ? "/v1/chat/completions" : "/v1/completions";
  }

  // Connects *c (fresh) or records a refused connection.
  bool connect(Conn* c, const ConnOptions& o, std::string* problem) {
    if (c->connect(a_.target, o, problem)) return true;
    t_.refused.fetch_add(1);
    return false;
  }
  // The thread's keep-alive connection, reopened when the server closed it.
  Conn* keep_alive(std::string* problem) {
    if (!ka_.is_open()) {
      carry_.clear();
      if (!connect(&ka_, {}, problem)) return nullptr;
    }
    return &ka_;
  }
  // One request on the keep-alive connection.
  Response exchange(const std::string& bytes, const ReadOptions& ro, std::string* problem) {
    Response r;
    Conn* c = keep_alive(problem);
    if (c == nullptr) return r;
    if (!c->send_all(bytes, problem)) {
      ka_.close();
      return r;
    }
    r = read_response(*c, &carry_, ro);
    if (!r.error.empty()) *problem = r.error;
    if (!r.complete || !r.keep_alive) ka_.close();
    return r;
  }

  std::string plain(Api api) {
    std::string problem;
    const std::string req =
        build_request("POST", path(api), a_.target.host, body(api, false, a_.max_tokens).dump());
    Response r = exchange(req, {}, &problem);
    if (!problem.empty()) return problem;
    return check_completion(api, r);
  }

  std::string stream(Api api, bool slow) {
    json b = body(api, true, a_.max_tokens);
    const bool usage = rng_() % 2 == 0;
    if (usage) b["stream_options"] = {{"include_usage", true}};
    const std::string req = build_request("POST", path(api), a_.target.host, b.dump());
    std::vector<std::string> payloads;
    SseSplitter sse;
    ReadOptions ro;
    ro.on_body = [&](std::string_view d) {
      sse.feed(d, [&](const std::string& p) { payloads.push_back(p); });
      return true;
    };
    std::string problem;
    Response r;
    if (slow) {  // its own connection with a small receive buffer
      Conn c;
      ConnOptions co;
      co.rcvbuf_bytes = 4096;
      if (!connect(&c, co, &problem)) return problem;
      if (!c.send_all(req, &problem)) return problem;
      ro.read_size = 256;
      ro.pause_ms = 5;
      std::string carry;
      r = read_response(c, &carry, ro);
      if (!r.error.empty()) return r.error;
    } else {
      r = exchange(req, ro, &problem);
      if (!problem.empty()) return problem;
    }
    return check_stream(api, r.status, payloads, usage);
  }

  std::string invalid_json() {
    static const char* kBodies[] = {"{",         "not json", "{\"model\": \"x\",}",
                                    "[1, 2, 3]", "\"text\"", "{\"model\": \"\xff\xfe\"}"};
    const size_t i = rng_() % 6;
    const Api api = rng_() % 2 ? Api::kChat : Api::kCompletions;
    std::string problem;
    Response r =
        exchange(build_request("POST", path(api), a_.target.host, kBodies[i]), {}, &problem);
    if (!problem.empty()) return problem;
    return check_error(r, 400, "");
  }

  std::string invalid_field() {
    json b = body(Api::kChat, false, a_.max_tokens);
    std::string param;
    switch (rng_() % 6) {
      case 0:
        b["max_tokens"] = -5, param = "max_tokens";
        break;
      case 1:
        b["temperature"] = "hot", param = "temperature";
        break;
      case 2:
        b["tools"] = json::array(), param = "tools";
        break;
      case 3:
        b["n"] = 0, param = "n";
        break;
      case 4:
        b["messages"][1]["role"] = "wizard", param = "messages[1]";
        break;
      default:
        b.erase("messages"), param = "messages";
        break;
    }
    std::string problem;
    Response r =
        exchange(build_request("POST", path(Api::kChat), a_.target.host, b.dump()), {}, &problem);
    if (!problem.empty()) return problem;
    return check_error(r, 400, param);
  }

  std::string oversized() {
    json b = body(Api::kChat, false, a_.max_tokens);
    b["messages"][1]["content"] = std::string(a_.max_body + 1024, 'a');
    const std::string req = build_request("POST", path(Api::kChat), a_.target.host, b.dump());
    Conn c;
    std::string problem;
    if (!connect(&c, {}, &problem)) return problem;
    std::string ignored;  // the server may stop reading once it has answered 413
    c.send_all(req, &ignored);
    std::string carry;
    Response r = read_response(c, &carry, {});
    if (!r.complete) return "no complete response: " + r.error;
    return check_error(r, 413, "");
  }

  std::string disconnect() {
    const Api api = rng_() % 2 ? Api::kChat : Api::kCompletions;
    const std::string req =
        build_request("POST", path(api), a_.target.host, body(api, true, 200).dump());
    Conn c;
    std::string problem;
    if (!connect(&c, {}, &problem)) return problem;
    if (!c.send_all(req, &problem)) return problem;
    int events = 0;
    const int stop_after = 1 + static_cast<int>(rng_() % 3);
    SseSplitter sse;
    ReadOptions ro;
    ro.on_body = [&](std::string_view d) {
      sse.feed(d, [&](const std::string&) { ++events; });
      return events < stop_after;
    };
    std::string carry;
    Response r = read_response(c, &carry, ro);
    const bool reset = rng_() % 2 == 0;  // half of them reset the connection
    c.close(reset);
    if (reset) t_.disconnect_reset.fetch_add(1);
    if (r.status != 200) return "status " + std::to_string(r.status) + " " + r.error;
    return events > 0 ? "" : "no event before the disconnect";
  }

  std::string slowloris() {
    Conn c;
    std::string problem;
    if (!connect(&c, {}, &problem)) return problem;
    const auto give_up = Clock::now() + std::chrono::duration<double>(a_.header_timeout_s + 5);
    std::string ignored;
    if (!c.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n", &ignored)) return "";
    for (int i = 0; Clock::now() < give_up; ++i) {
      if (c.wait_readable(300)) {
        std::string carry;
        Response r = read_response(c, &carry, {});
        if (!r.complete && r.status == 0) return "";  // closed without an answer: dropped
        if (r.status == 408) t_.slowloris_408.fetch_add(1);
        return check_error(r, 408, "");
      }
      const std::string line = "X-Slow-" + std::to_string(i) + ": y\r\n";
      if (!c.send_all(line, &ignored)) return "";  // the server closed the connection
    }
    return "not dropped within the header timeout + 5 s";
  }

  const Args& a_;
  Tally& t_;
  std::mt19937_64 rng_;
  Conn ka_;
  std::string carry_;
};

// VmRSS of pid in MiB; < 0 when the process is gone.
double rss_mib(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return -1.0;
}

// One GET on a fresh connection; status 0 when the server did not answer.
Response get(const Args& a, const std::string& target) {
  Conn c;
  std::string err;
  ConnOptions o;
  o.timeout_ms = 5000;
  if (!c.connect(a.target, o, &err)) return Response{};
  if (!c.send_all(build_request("GET", target, a.target.host, ""), &err)) return Response{};
  std::string carry;
  return read_response(c, &carry, {});
}

bool wait_ready(const Args& a) {
  const auto end = Clock::now() + std::chrono::duration<double>(a.wait_ready_s);
  while (Clock::now() < end) {
    if (get(a, "/health").status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

struct RssSample {
  double t_s;
  double mib;
};

// Samples RSS until `stop`; sets *gone when the process disappears.
void sample_rss(const Args& a, Clock::time_point t0, const std::atomic<bool>& stop,
                std::vector<RssSample>* out, std::atomic<bool>* gone) {
  while (!stop.load()) {
    const double m = rss_mib(a.pid);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    if (m < 0) {
      gone->store(true);
      return;
    }
    out->push_back({t, m});
    for (double w = 0; w < a.rss_interval_s && !stop.load(); w += 0.05) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

// Verdict on RSS growth after warm-up; "" when flat enough. Prints the comparison.
std::string rss_verdict(const Args& a, const std::vector<RssSample>& s, double warmup_s) {
  std::vector<double> after;
  for (const auto& x : s) {
    if (x.t_s >= warmup_s) after.push_back(x.mib);
  }
  if (after.size() < 3) {
    std::printf("rss: only %zu samples after the %.0f s warm-up: growth not judged\n", after.size(),
                warmup_s);
    return "";
  }
  const size_t third = after.size() / 3;
  auto avg = [](auto b, auto e) {
    double sum = 0;
    for (auto it = b; it != e; ++it) sum += *it;
    return sum / static_cast<double>(e - b);
  };
  const double first = avg(after.begin(), after.begin() + static_cast<long>(third));
  const double last = avg(after.end() - static_cast<long>(third), after.end());
  const double bound = first * (1 + a.rss_growth_pct / 100) + a.rss_slack_mb;
  std::printf(
      "rss: after warm-up (%.0f s) first third avg %.1f MiB, last third avg %.1f MiB, "
      "bound %.1f MiB (+%.0f%% +%.0f MiB): %s\n",
      warmup_s, first, last, bound, a.rss_growth_pct, a.rss_slack_mb,
      last <= bound ? "flat" : "GROWING");
  if (last <= bound) return "";
  char buf[160];
  std::snprintf(buf, sizeof buf, "RSS grew from %.1f to %.1f MiB after warm-up (bound %.1f MiB)",
                first, last, bound);
  return buf;
}

// Waits for the engine to be idle; "" when it is. Prints the final gauges.
std::string idle_verdict(const Args& a) {
  const auto end = Clock::now() + std::chrono::duration<double>(a.idle_wait_s);
  std::string text;
  double running = -1, waiting = -1, used = -1, cached = -1, in_flight = -1;
  do {
    Response r = get(a, "/metrics");
    if (r.status != 200) return "GET /metrics failed (status " + std::to_string(r.status) + ")";
    text = r.body;
    running = metric_value(text, "dari_requests_running");
    waiting = metric_value(text, "dari_requests_waiting");
    used = metric_value(text, "dari_kv_blocks_used");
    cached = metric_value(text, "dari_kv_blocks_cached");
    in_flight = metric_value(text, "dari_http_requests_in_flight");
    if (running == 0 && waiting == 0 && used == 0 && in_flight == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (Clock::now() < end);
  std::printf(
      "idle: running %.0f, waiting %.0f, http in flight %.0f, KV blocks in use by "
      "sequences %.0f of %.0f, kept by the prefix cache %.0f\n",
      running, waiting, in_flight, used, metric_value(text, "dari_kv_blocks_total"), cached);
  if (running == 0 && waiting == 0 && used == 0 && in_flight == 0) return "";
  return "not idle " + std::to_string(static_cast<int>(a.idle_wait_s)) +
         " s after the load: running/waiting/in-flight/KV blocks in use not all 0";
}

void print_summary(const Tally& t, const std::vector<RssSample>& rss) {
  std::printf("%-18s %8s %8s\n", "client kind", "ok", "failed");
  uint64_t ok = 0, failed = 0;
  for (int k = 0; k < kKinds; ++k) {
    std::printf(
        "%-18s %8llu %8llu%s\n", kInfo[k].name, static_cast<unsigned long long>(t.ok[k].load()),
        static_cast<unsigned long long>(t.failed[k].load()), kInfo[k].valid ? "" : "   (hostile)");
    ok += t.ok[k].load();
    failed += t.failed[k].load();
  }
  std::printf("%-18s %8llu %8llu   refused connections: %llu\n", "total",
              static_cast<unsigned long long>(ok), static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(t.refused.load()));
  std::printf(
      "outcomes: slowloris answered 408 %llu (the rest closed without an answer); "
      "disconnects by reset %llu (the rest by an orderly close)\n",
      static_cast<unsigned long long>(t.slowloris_408.load()),
      static_cast<unsigned long long>(t.disconnect_reset.load()));
  if (!rss.empty()) {
    std::printf("rss samples (s: MiB):");
    const size_t step = std::max<size_t>(1, rss.size() / 40);  // at most ~40 printed
    for (size_t i = 0; i < rss.size(); i += step) {
      std::printf(" %.0f:%.1f", rss[i].t_s, rss[i].mib);
    }
    std::printf("\n");
  }
  for (const auto& p : t.problems) std::printf("problem: %s\n", p.c_str());
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "soak_http: %s needs a value\n", k.c_str());
      return false;
    }
    const std::string v = argv[++i];
    char* end = nullptr;
    const double num = std::strtod(v.c_str(), &end);
    const bool is_num = end != v.c_str() && *end == '\0' && num >= 0;
    if (k == "--host") {
      a->target.host = v;
      continue;
    }
    if (k == "--model") {
      a->model = v;
      continue;
    }
    if (!is_num) {
      std::fprintf(stderr, "soak_http: %s: '%s' is not a non-negative number\n", k.c_str(),
                   v.c_str());
      return false;
    }
    if (k == "--port" && num >= 1 && num <= 65535)
      a->target.port = static_cast<uint16_t>(num);
    else if (k == "--pid")
      a->pid = static_cast<long>(num);
    else if (k == "--duration")
      a->duration_s = num;
    else if (k == "--clients" && num >= 1 && num <= 1024)
      a->clients = static_cast<int>(num);
    else if (k == "--max-tokens" && num >= 1 && num <= 4096)
      a->max_tokens = static_cast<int>(num);
    else if (k == "--max-body" && num <= 1e9)
      a->max_body = static_cast<uint64_t>(num);
    else if (k == "--header-timeout")
      a->header_timeout_s = num;
    else if (k == "--warmup")
      a->warmup_s = num;
    else if (k == "--rss-interval" && num >= 0.1)
      a->rss_interval_s = num;
    else if (k == "--rss-growth-pct")
      a->rss_growth_pct = num;
    else if (k == "--rss-slack-mb")
      a->rss_slack_mb = num;
    else if (k == "--idle-wait")
      a->idle_wait_s = num;
    else if (k == "--wait-ready")
      a->wait_ready_s = num;
    else if (k == "--seed")
      a->seed = static_cast<uint64_t>(num);
    else {
      std::fprintf(stderr, "soak_http: unknown option or value out of range: %s %s\n", k.c_str(),
                   v.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) return 2;
  if (!wait_ready(a)) {
    std::printf("FAIL: the server at %s:%u did not answer GET /health with 200 within %.0f s\n",
                a.target.host.c_str(), a.target.port, a.wait_ready_s);
    return 1;
  }
  const double warmup = a.warmup_s >= 0 ? a.warmup_s : std::min(60.0, a.duration_s / 5);
  std::printf("soak: %d clients for %.0f s against %s:%u (server pid %ld)\n", a.clients,
              a.duration_s, a.target.host.c_str(), a.target.port, a.pid);
  std::fflush(stdout);
  Tally tally;
  std::vector<RssSample> rss;
  std::atomic<bool> stop{false}, gone{false};
  const auto t0 = Clock::now();
  std::thread sampler;
  if (a.pid > 0) sampler = std::thread(sample_rss, std::cref(a), t0, std::cref(stop), &rss, &gone);
  const auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.duration_s));
  std::vector<std::thread> threads;
  for (int i = 0; i < a.clients; ++i) {
    threads.emplace_back(
        [&, i] { Client(a, tally, a.seed * 1000003u + static_cast<uint64_t>(i)).run(end); });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> reasons;
  if (gone.load() || (a.pid > 0 && rss_mib(a.pid) < 0)) {
    reasons.push_back("the server process " + std::to_string(a.pid) + " is gone (crashed?)");
  } else {
    if (auto v = idle_verdict(a); !v.empty()) reasons.push_back(v);
  }
  stop.store(true);
  if (sampler.joinable()) sampler.join();
  print_summary(tally, rss);
  if (a.pid > 0 && !gone.load()) {
    if (auto v = rss_verdict(a, rss, warmup); !v.empty()) reasons.push_back(v);
  }
  if (tally.refused.load() > 0) {
    reasons.push_back(std::to_string(tally.refused.load()) + " connections refused or failed");
  }
  for (int k = 0; k < kKinds; ++k) {
    if (tally.failed[k].load() == 0) continue;
    reasons.push_back(std::to_string(tally.failed[k].load()) + " " + kInfo[k].name +
                      (kInfo[k].valid ? " requests did not complete correctly"
                                      : " clients were not answered as expected"));
  }
  for (const auto& r : reasons) std::printf("FAIL: %s\n", r.c_str());
  if (reasons.empty()) std::printf("PASS\n");
  return reasons.empty() ? 0 : 1;
}
