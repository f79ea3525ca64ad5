// `dari backend-test`: the backend conformance suite (dari/backend/conformance.h) on one backend
// device against the scalar CPU reference. Prints a row per case as it finishes, then
// "backend-test: <backend>: N passed, M failed, K unsupported"; exits 1 if any case failed.
// Unsupported cases are not failures (the engine runs those ops on the CPU) but are listed.
// --mode perf also times every supported case on the device (GB/s, and GFLOP/s for matmul and
// attention). --json prints one object at the end instead of the table; --thresholds prints the
// NMSE limits, --summary the support table of docs/BACKENDS.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cmd_common.h"
#include "command.h"
#include "dari/backend/backend.h"
#include "dari/backend/conformance.h"
#include "dari/core/strings.h"

namespace dari::cli {
namespace {

struct BackendTestArgs {
  BackendCliOptions backend;  // -ngl is not offered here
  std::string op;
  std::string type;
  std::string mode = "test";
  bool json = false;
  bool thresholds = false;
  bool summary = false;
  uint32_t threads = 0;
  uint32_t seed = 1234;
  uint32_t graph = 1;
};

// Rows are built as strings so that the last column carries no trailing padding.
void print_line(std::string line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void print_header(bool perf) {
  std::string h = str_format("%-10s %-11s %-40s %-10s %-8s %-11s", "OP", "TYPE", "SHAPE", "NMSE",
                             "LIMIT", "RESULT");
  if (perf) h += str_format(" %10s %9s %9s", "us/case", "GB/s", "GFLOP/s");
  print_line(h);
}

void print_row(const conformance::CaseResult& r, bool perf) {
  const std::string nmse = std::isnan(r.nmse) ? "-" : str_format("%.2e", r.nmse);
  std::string line =
      str_format("%-10s %-11s %-40s %-10s %-8.0e %-11s", r.op.c_str(), r.type.c_str(),
                 r.shape.c_str(), nmse.c_str(), r.threshold, conformance::outcome_name(r.outcome));
  if (perf && r.iters > 0) {
    line += str_format(" %10.1f %9.2f", r.seconds * 1e6, r.gb_per_s());
    if (r.flops > 0) line += str_format(" %9.2f", r.gflop_per_s());
  }
  if (!r.message.empty()) line += "  " + r.message;
  print_line(line);
}

nlohmann::json case_json(const conformance::CaseResult& r, bool perf) {
  nlohmann::json j = {{"op", r.op},
                      {"type", r.type},
                      {"shape", r.shape},
                      {"threshold", r.threshold},
                      {"result", conformance::outcome_name(r.outcome)}};
  j["nmse"] = std::isnan(r.nmse) ? nlohmann::json(nullptr) : nlohmann::json(r.nmse);
  if (!r.message.empty()) j["message"] = r.message;
  if (perf && r.iters > 0) {
    j["seconds"] = r.seconds;
    j["iters"] = r.iters;
    j["bytes"] = r.bytes;
    j["gb_per_s"] = r.gb_per_s();
    if (r.flops > 0) {
      j["flops"] = r.flops;
      j["gflop_per_s"] = r.gflop_per_s();
    }
  }
  return j;
}

// The NMSE limits as a Markdown table (docs/BACKENDS.md is made from it).
int print_thresholds() {
  std::printf("| op | type | NMSE limit | why |\n|---|---|---|---|\n");
  for (const conformance::Threshold& t : conformance::conformance_thresholds()) {
    std::printf("| %s | %s | %.0e | %s |\n", t.op.c_str(), t.type.c_str(), t.nmse, t.why.c_str());
  }
  return 0;
}

// What the backend supports, one Markdown row per op (docs/BACKENDS.md): the types whose cases all
// pass, those supported for some shapes only, those with a failing case (and which shapes), and
// those unsupported.
void print_summary(const std::string& backend, const conformance::SuiteReport& rep) {
  std::vector<std::string> ops;
  std::map<std::string, std::vector<std::string>> types;  // op -> types in suite order
  std::map<std::pair<std::string, std::string>, std::vector<const conformance::CaseResult*>> cases;
  for (const auto& c : rep.cases) {
    if (types.count(c.op) == 0) ops.push_back(c.op);
    auto& ts = types[c.op];
    if (std::find(ts.begin(), ts.end(), c.type) == ts.end()) ts.push_back(c.type);
    cases[{c.op, c.type}].push_back(&c);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::printf("| op | %s: %u pass, %u fail, %u unsupported |\n|---|---|\n", backend.c_str(),
              rep.passed, rep.failed, rep.unsupported);
  for (const std::string& op : ops) {
    std::vector<std::string> full, some, bad, none;
    for (const std::string& t : types[op]) {
      std::vector<std::string> failed, unsupported;
      for (const auto* c : cases[{op, t}]) {
        if (c->outcome == conformance::Outcome::kFail) failed.push_back(c->shape);
        if (c->outcome == conformance::Outcome::kUnsupported) unsupported.push_back(c->shape);
      }
      const size_t n = cases[{op, t}].size();
      if (!failed.empty()) {
        bad.push_back(t + " (" + join(failed) + ")");
      } else if (unsupported.size() == n) {
        none.push_back(t);
      } else if (!unsupported.empty()) {
        some.push_back(t + " (not " + join(unsupported) + ")");
      } else {
        full.push_back(t);
      }
    }
    std::vector<std::string> cell;
    if (!full.empty()) cell.push_back(join(full));
    if (!some.empty()) cell.push_back("some shapes: " + join(some));
    if (!bad.empty()) cell.push_back("**fails**: " + join(bad));
    if (!none.empty()) cell.push_back("unsupported: " + join(none));
    std::string text;
    for (const auto& x : cell) text += (text.empty() ? "" : "; ") + x;
    std::printf("| %s | %s |\n", op.c_str(), text.c_str());
  }
}

int backend_test_main(const BackendTestArgs& a) {
  if (a.thresholds) return print_thresholds();
  if (a.mode != "test" && a.mode != "perf") {
    std::fprintf(stderr, "dari: error: --mode: expected test or perf, got '%s'\n", a.mode.c_str());
    return 1;
  }
  const bool perf = a.mode == "perf";
  ResolvedBackend rb;
  if (!resolve_backend(a.backend, &rb)) return 1;
  BackendOptions bo;
  bo.n_threads = a.threads;
  auto dev = create_backend(rb.spec, bo);
  if (!dev.ok()) {
    std::fprintf(stderr, "dari: error: --backend %s: %s\n", rb.spec.c_str(), dev.message().c_str());
    return 1;
  }
  auto ref = conformance::make_reference_backend(a.threads);
  if (!ref.ok()) {
    std::fprintf(stderr, "dari: error: reference backend: %s\n", ref.message().c_str());
    return 1;
  }
  conformance::SuiteOptions so;
  so.op = a.op;
  so.type = a.type;
  so.mode = perf ? conformance::Mode::kPerf : conformance::Mode::kTest;
  so.seed = a.seed;
  so.perf_graph_ops = a.graph;
  const DeviceInfo& info = (*dev)->device();
  const bool table = !a.json && !a.summary;
  if (table) {
    std::printf("backend-test: %s (%s: %s) against the scalar cpu reference\n", rb.spec.c_str(),
                info.name.c_str(), info.description.c_str());
    print_header(perf);
  }
  auto report =
      conformance::run_conformance(**dev, **ref, so, [&](const conformance::CaseResult& r) {
        if (table) print_row(r, perf);
      });
  if (!report.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", report.message().c_str());
    return 1;
  }
  if (a.summary) {
    print_summary(rb.spec, *report);
  } else if (a.json) {
    nlohmann::json j;
    j["backend"] = rb.spec;
    j["device"] = {{"name", info.name}, {"description", info.description}};
    j["mode"] = a.mode;
    if (perf) j["graph_ops"] = so.perf_graph_ops;
    j["cases"] = nlohmann::json::array();
    for (const auto& r : report->cases) j["cases"].push_back(case_json(r, perf));
    j["passed"] = report->passed;
    j["failed"] = report->failed;
    j["unsupported"] = report->unsupported;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("backend-test: %s: %u passed, %u failed, %u unsupported\n", rb.spec.c_str(),
                report->passed, report->failed, report->unsupported);
  }
  return report->failed == 0 ? 0 : 1;
}

std::function<int()> setup(CLI::App& app) {
  auto a = std::make_shared<BackendTestArgs>();
  app.add_option("--backend", a->backend.backend,
                 "backend NAME[:DEVICE] to test (see `dari devices`)")
      ->capture_default_str();
  app.add_option("--backend-plugin", a->backend.plugins,
                 "load a backend plugin library first (repeatable)");
  app.add_option("--op", a->op,
                 "only this op: matmul, rms_norm, rope, softmax, silu_mul, add, mul, get_rows, "
                 "set_rows, attention, copy; graphs: ffn, decode");
  app.add_option("--type", a->type,
                 "only this type: F32, F16, BF16, Q8_0, Q4_0, ..., Q6_K; copy: "
                 "F32->Q8_0");
  app.add_option("--mode", a->mode, "test (correctness) or perf (also time each case)")
      ->capture_default_str();
  app.add_option(
         "--graph", a->graph,
         "perf: copies of the case (its op, or its graph) per compute() call; times are per copy")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  app.add_flag("--json", a->json, "print one JSON object instead of the table");
  app.add_flag("--summary", a->summary,
               "print which ops and types pass as a Markdown table instead of the case rows");
  app.add_flag("--thresholds", a->thresholds,
               "print the NMSE limit of every (op, type) as a Markdown table and exit");
  app.add_option("-t,--threads", a->threads, "CPU threads (reference, and a cpu backend; 0: all)");
  app.add_option("--seed", a->seed, "seed of the random inputs")->capture_default_str();
  return [a] { return backend_test_main(*a); };
}

DARI_COMMAND("backend-test", "Check a backend's ops against the CPU reference (conformance suite)",
             setup);

}  // namespace
}  // namespace dari::cli
