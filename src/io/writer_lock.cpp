#include "io/writer_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

constexpr std::chrono::milliseconds kPollInterval{5};

std::string errno_text() { return std::strerror(errno); }

// The pid that /proc/locks names as holding a flock on the file open as `fd`; nothing when it cannot
// tell (no /proc, another pid namespace, or the holder let go meanwhile).
std::optional<long> flock_holder(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return std::nullopt;
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters read "1: -> FLOCK ..." and are skipped.
    char type[16] = {};
    long pid = 0;
    unsigned major_id = 0, minor_id = 0;
    unsigned long inode = 0;
    if (std::sscanf(line.c_str(), "%*d: %15s %*s %*s %ld %x:%x:%lu", type, &pid, &major_id, &minor_id, &inode) == 5 &&
        std::strcmp(type, "FLOCK") == 0 && pid > 0 && major_id == major(st.st_dev) && minor_id == minor(st.st_dev) &&
        inode == static_cast<unsigned long>(st.st_ino))
      return pid;
  }
  return std::nullopt;
}

}  // namespace

WriterLock::WriterLock(const std::string& path, std::optional<std::chrono::milliseconds> timeout)
    : lock_path_(resolve_link_chain(path) + ".lock") {
  // O_NONBLOCK: a FIFO planted under the name must not block open(); flock itself is unaffected.
  fd_ = UniqueFd(::open(lock_path_.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644));
  if (fd_.get() < 0) throw Error(Status::Io, path + ": cannot open its lock file " + lock_path_ + " (" + errno_text() + ")");
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(Status::Io, path + ": its lock file " + lock_path_ + " is not a regular file");
  if (timeout)
    wait_at_most(*timeout, path);
  else
    wait_indefinitely(path);
}

void WriterLock::wait_indefinitely(const std::string& path) {
  while (::flock(fd_.get(), LOCK_EX) != 0)
    if (errno != EINTR) throw Error(Status::Io, path + ": cannot lock " + lock_path_ + " (" + errno_text() + ")");
}

void WriterLock::wait_at_most(std::chrono::milliseconds timeout, const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK && errno != EINTR)
      throw Error(Status::Io, path + ": cannot lock " + lock_path_ + " (" + errno_text() + ")");
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      const auto holder = flock_holder(fd_.get());
      throw Error(Status::Conflict, path + ": another writer (" + (holder ? "pid " + std::to_string(*holder) : "pid unknown") +
                                        ") holds its lock " + lock_path_ + " and did not release it within " +
                                        std::to_string(timeout.count()) + " ms; try again when it has finished");
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
  }
}

}  // namespace domainsearch::detail
