// A writer killed with SIGKILL mid-stream leaves a chain that verifies, and every record it
// committed before dying is there (SQLite WAL + synchronous=FULL).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::fresh_dir;
using testing::policy_in;

// Child: append records forever, reporting each committed seq through the pipe.
[[noreturn]] void writer(const Policy& p, int fd) {
  auto log = AuditLog::open(p.audit_db, p);
  if (!log.ok()) _exit(2);
  for (int64_t i = 1;; ++i) {
    AuditRecord r;
    r.request_id = "crash-" + std::to_string(i);
    r.output = std::string(200, 'x');
    r.completion_tokens = i;
    if (!(*log)->record(r).ok()) _exit(3);
    if (write(fd, &i, sizeof i) != static_cast<ssize_t>(sizeof i)) _exit(4);
  }
}

TEST(CrashSafety, KilledWriterLeavesAVerifiableChain) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  int64_t committed_total = 0;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      writer(p, fds[1]);
    }
    close(fds[1]);
    // Wait for 20 + 10 * round committed records, then kill without warning.
    int64_t last = 0, seen = 0;
    while (seen < 20 + 10 * round) {
      ASSERT_EQ(read(fds[0], &last, sizeof last), static_cast<ssize_t>(sizeof last));
      ++seen;
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status));
    // Records the child committed but had not yet reported may exist too.
    while (read(fds[0], &last, sizeof last) == static_cast<ssize_t>(sizeof last)) ++seen;
    close(fds[0]);
    committed_total += seen;

    auto log = AuditLog::open(p.audit_db, p);
    ASSERT_TRUE(log.ok()) << log.message();
    ChainReport r = (*log)->verify();
    EXPECT_TRUE(r.ok) << "round " << round << ": " << r.message;
    EXPECT_GE(r.rows, committed_total);
    EXPECT_LE(r.rows, committed_total + 1 + round);  // at most one unreported commit per kill
  }
}

TEST(CrashSafety, ConcurrentWritersShareOneChain) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  auto a = AuditLog::open(p.audit_db, p);
  auto b = AuditLog::open(p.audit_db, p);  // a second connection, as a second process would
  ASSERT_TRUE(a.ok() && b.ok());
  auto work = [](AuditLog* log, int n) {
    for (int i = 0; i < n; ++i) {
      AuditRecord r;
      r.request_id = "c" + std::to_string(i);
      EXPECT_TRUE(log->record(r).ok());
    }
  };
  std::thread t1(work, a->get(), 40), t2(work, b->get(), 40), t3(work, a->get(), 40);
  t1.join();
  t2.join();
  t3.join();
  ChainReport r = (*a)->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 120);
}

}  // namespace
}  // namespace dari::trust
