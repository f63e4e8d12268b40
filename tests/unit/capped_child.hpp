#pragma once
// Running a hostile call in a forked child whose memory and time are capped, so that a call that would
// allocate what an input merely claims, or hang, fails the test instead of the test process.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <fstream>
#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "domainsearch/error.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DS_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DS_TEST_UNDER_SANITIZER 1
#endif
#endif

namespace dstest {

/// How a call run by outcome_in_capped_child() ended.
struct ChildOutcome {
  std::string how;  ///< "Error", "no error", "other exception" (e.g. std::bad_alloc over the cap), or "killed by signal N"
  domainsearch::Status status = domainsearch::Status::Ok;
  std::string message;
};

inline std::uint64_t vm_size_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  return 0;
}

/// Runs `call` in a forked child and reports how it ended. The child is killed after 20 s (SIGALRM), so
/// a call that hangs fails the test, and its address space is capped at its size at the fork plus
/// `headroom_bytes` (RLIMIT_AS): virtual size rather than peak RSS, because a decoder may allocate a
/// whole image before touching any of it. Sanitizer builds skip the cap: their shadow memory does not
/// mix with RLIMIT_AS.
inline ChildOutcome outcome_in_capped_child(const std::function<void()>& call, std::uint64_t headroom_bytes) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    ::alarm(20);
#ifndef DS_TEST_UNDER_SANITIZER
    const rlim_t cap = vm_size_bytes() + headroom_bytes;
    const rlimit limit{cap, cap};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(2);
#endif
    std::string report;
    try {
      call();
      report = "no error\n";
    } catch (const domainsearch::Error& e) {
      report = "Error\n" + std::to_string(static_cast<int>(e.status())) + "\n" + e.what();
    } catch (const std::exception& e) {
      report = std::string("other exception\n0\n") + e.what();
    }
    const bool sent = ::write(pipe_fds[1], report.data(), report.size()) == static_cast<ssize_t>(report.size());
    ::_exit(sent ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;)
    if (n > 0) report.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  if (WIFSIGNALED(wait_status)) return {"killed by signal " + std::to_string(WTERMSIG(wait_status)), domainsearch::Status::Ok, ""};
  REQUIRE(WEXITSTATUS(wait_status) == 0);
  ChildOutcome outcome;
  const std::size_t first = report.find('\n'), second = report.find('\n', first + 1);
  outcome.how = report.substr(0, first);
  if (second != std::string::npos) {
    outcome.status = static_cast<domainsearch::Status>(std::stoi(report.substr(first + 1, second - first - 1)));
    outcome.message = report.substr(second + 1);
  }
  return outcome;
}

}  // namespace dstest
