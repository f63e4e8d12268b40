#include "io/writer_lock.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <mutex>
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

// Polls `try_lock` every few milliseconds until it succeeds, `timeout` passes (nullopt: never) or
// `keep_waiting` says stop. Returns false on timeout; throws Cancelled when told to stop.
bool poll_until(const std::function<bool()>& try_lock, std::optional<std::chrono::milliseconds> timeout,
                const std::function<bool()>& keep_waiting, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  for (;;) {
    if (try_lock()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (timeout && now >= deadline) return false;
    if (keep_waiting && !keep_waiting()) throw Error(Status::Cancelled, what + ": gave up waiting for the lock");
    auto pause = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPollInterval);
    if (timeout) pause = std::min<std::chrono::steady_clock::duration>(pause, deadline - now);
    std::this_thread::sleep_for(pause);
  }
}

// Read and write for each class that may write the guarded file (`guarded` absent: the owner alone).
mode_t lock_mode_for(const std::optional<struct stat>& guarded) {
  const mode_t write_bits = guarded ? (guarded->st_mode & 0222) | 0200 : 0200;
  return write_bits | (write_bits << 1);
}

// The lock files this process holds a WriterLock on, by (device, inode): the descriptor it holds, so
// that a commit of the same file takes its record lock on that same open file description. On local
// file systems flock and record locks never meet; an NFS client emulates flock with a whole-file record
// lock, which a record lock of another description of the same process would wait for (forever).
class HeldWriterLocks {
 public:
  void add(const struct stat& st, int fd) {
    const std::lock_guard<std::mutex> guard(mutex_);
    held_.emplace(key(st), fd);
  }
  void remove(const struct stat& st, int fd) {
    const std::lock_guard<std::mutex> guard(mutex_);
    const auto range = held_.equal_range(key(st));
    for (auto it = range.first; it != range.second; ++it)
      if (it->second == fd) return void(held_.erase(it));
  }
  // A new descriptor of the held lock's open file description (dup), or -1 when none is held.
  int duplicate(const struct stat& st) const {
    const std::lock_guard<std::mutex> guard(mutex_);
    const auto it = held_.find(key(st));
    return it == held_.end() ? -1 : ::fcntl(it->second, F_DUPFD_CLOEXEC, 0);
  }

 private:
  static std::pair<dev_t, ino_t> key(const struct stat& st) { return {st.st_dev, st.st_ino}; }
  mutable std::mutex mutex_;
  std::multimap<std::pair<dev_t, ino_t>, int> held_;
};

// Commits of one process, one at a time: its threads may share one open file description (above),
// whose record locks do not exclude each other.
std::timed_mutex& process_commits() {
  static std::timed_mutex* commits = new std::timed_mutex;
  return *commits;
}

HeldWriterLocks& held_writer_locks() {
  static HeldWriterLocks* held = new HeldWriterLocks;  // never destroyed: locks may be released during exit
  return *held;
}

// Gives a lock file this process just created the guarded file's owner and group, as far as it may, so
// a save by root (or a group member) does not leave a lock file the catalogue's owner cannot open.
void give_owner_of(int fd, const std::optional<struct stat>& guarded) {
  if (!guarded) return;
  if (::fchown(fd, guarded->st_uid, guarded->st_gid) != 0) (void)::fchown(fd, static_cast<uid_t>(-1), guarded->st_gid);  // best effort
}

// The commit lock's byte range (byte 1 of the lock file) with lock type `type`.
struct flock commit_range(short type) {
  struct flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = 1;
  range.l_len = 1;
  return range;
}

}  // namespace

UniqueFd open_lock_file(int dir_fd, const std::string& name, const std::string& for_file) {
  const std::string lock_name = name + ".lock";
  const std::optional<struct stat> guarded = stat_entry(dir_fd, name, for_file);
  const mode_t mode = lock_mode_for(guarded);
  // O_NONBLOCK: a FIFO planted under the name must not block open(); locking is unaffected.
  UniqueFd fd(::openat(dir_fd, lock_name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode));
  const bool created = fd.get() >= 0;
  if (!created && errno == EEXIST) fd = UniqueFd(::openat(dir_fd, lock_name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const std::string reason = errno_text();
    struct stat st;
    const bool other_owner = ::fstatat(dir_fd, lock_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid != ::geteuid();
    throw Error(Status::Io, for_file + ": cannot open its lock file " + lock_name + " for writing (" + reason + ")" +
                                (other_owner ? "; it belongs to uid " + std::to_string(st.st_uid) +
                                                   ": only those who may write it can save; its owner or root can remove it (it holds nothing)"
                                             : ""));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(Status::Io, for_file + ": its lock file " + lock_name + " is not a regular file");
  if (created) give_owner_of(fd.get(), guarded);
  if (st.st_uid == ::geteuid() && (st.st_mode & 0777) != mode) ::fchmod(fd.get(), mode);  // follows the file's mode; best effort
  return fd;
}

WriterLock::WriterLock(const std::string& path, std::optional<std::chrono::milliseconds> timeout, const std::function<bool()>& keep_waiting) {
  const std::string resolved = resolve_link_chain(path);
  lock_path_ = resolved + ".lock";
  const PathParts target = split_path(resolved);
  fd_ = open_lock_file(open_directory(target.directory, path).get(), target.name, path);
  const auto try_lock = [&] {
    if (::flock(fd_.get(), timeout || keep_waiting ? LOCK_EX | LOCK_NB : LOCK_EX) == 0) return true;
    if (errno != EWOULDBLOCK && errno != EINTR) throw Error(Status::Io, path + ": cannot lock " + lock_path_ + " (" + errno_text() + ")");
    return false;
  };
  if (poll_until(try_lock, timeout, keep_waiting, path)) {
    if (::fstat(fd_.get(), &held_) == 0) held_writer_locks().add(held_, fd_.get());
    return;
  }
  const auto holder = flock_holder(fd_.get());
  throw Error(Status::Conflict, path + ": another writer (" + (holder ? "pid " + std::to_string(*holder) : "pid unknown") +
                                    ") holds its lock " + lock_path_ + " and did not release it within " +
                                    std::to_string(timeout->count()) + " ms; try again when it has finished");
}

WriterLock::~WriterLock() {
  if (fd_.get() >= 0 && held_.st_ino != 0) held_writer_locks().remove(held_, fd_.get());
}

CommitLock::CommitLock(int dir_fd, const std::string& name, const std::string& for_file, std::chrono::milliseconds timeout)
    : in_process_(process_commits(), std::defer_lock) {
  if (!in_process_.try_lock_for(timeout))
    throw Error(Status::Conflict, for_file + ": another thread of this process kept committing a save for over " +
                                      std::to_string(timeout.count()) + " ms; try again");
  fd_ = open_lock_file(dir_fd, name, for_file);
  struct stat st;
  if (::fstat(fd_.get(), &st) == 0)
    if (const int held = held_writer_locks().duplicate(st); held >= 0) fd_ = UniqueFd(held);  // this process's WriterLock's description
  const auto try_lock = [&] {
    struct flock lock = commit_range(F_WRLCK);
    if (::fcntl(fd_.get(), F_OFD_SETLK, &lock) == 0) return true;
    if (errno != EAGAIN && errno != EACCES && errno != EINTR)
      throw Error(Status::Io, for_file + ": cannot take its commit lock " + name + ".lock (" + errno_text() + ")");
    return false;
  };
  if (!poll_until(try_lock, timeout, {}, for_file))
    throw Error(Status::Conflict, for_file + ": another writer held its commit lock " + name + ".lock for over " +
                                      std::to_string(timeout.count()) + " ms; try again");
}

CommitLock::~CommitLock() {
  struct flock unlock = commit_range(F_UNLCK);
  ::fcntl(fd_.get(), F_OFD_SETLK, &unlock);
}

}  // namespace domainsearch::detail
