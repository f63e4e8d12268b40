#pragma once
// Internal: the writer lock of a catalogue or index file (docs/format.md, "Writers"). A writer holds
// it for its whole open-modify-save, so two writers never both save changes made to the same old
// version; readers never take it (they are safe without: a save is an atomic rename).

#include <chrono>
#include <optional>
#include <string>

#include "io/file_safety.hpp"

namespace domainsearch::detail {

/// An exclusive flock(2) on "<file>.lock" beside the file a save of `path` replaces (`path` with its
/// symbolic links resolved, see resolve_link_chain), held from construction to destruction.
///
/// The lock file is created if absent (O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0644 less the umask), never
/// written and never deleted, so every writer locks the same inode. flock locks belong to an open file
/// description: two WriterLocks on one file exclude each other even within one process (a second
/// one on the same thread waits for itself: give it a timeout), and a child forked while a lock is
/// held shares it until both have released it. The lock is advisory: it binds only writers that take
/// it. Not thread-safe itself; one object per holder.
class WriterLock {
 public:
  /// Waits until the lock is held. `timeout`: std::nullopt waits as long as it takes; otherwise the
  /// longest wait (zero tries once), polled every few milliseconds. Throws Status::Conflict when the
  /// wait times out (the message names the lock file and, when /proc/locks tells, the holder's pid),
  /// Status::Io when the lock file cannot be created or opened (for instance it is a symbolic link
  /// or not a regular file) or flock fails.
  explicit WriterLock(const std::string& path, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock() = default;  ///< releases the lock (closes the lock file)

  /// "<resolved path>.lock".
  const std::string& lock_path() const noexcept { return lock_path_; }

 private:
  void wait_indefinitely(const std::string& path);
  void wait_at_most(std::chrono::milliseconds timeout, const std::string& path);

  std::string lock_path_;
  UniqueFd fd_;
};

}  // namespace domainsearch::detail
