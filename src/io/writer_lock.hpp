#pragma once
// Internal: the writer lock of a catalogue or index file (docs/format.md, "Writers"). A writer holds
// it for its whole open-modify-save, so two writers never both save changes made to the same old
// version; readers never take it (they are safe without: a save is an atomic rename).

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "io/file_safety.hpp"

namespace domainsearch::detail {

/// The lock file "<name>.lock" of the file `name` in `dir_fd`, opened for reading and writing (never
/// through a symbolic link, never blocking on a FIFO), created if absent and never written or deleted,
/// so every writer locks the same inode. Its permission bits let only those open it who may write the
/// file it guards: read and write for each class (owner, group, others) that has write permission on
/// that file (on a new file: the owner alone), so a user who may only read a catalogue cannot hold
/// its lock and block its writers. A lock file owned by this user is given those bits each time it
/// is opened (so it follows a chmod of the file it guards).
/// Throws Io naming `for_file` when it cannot be opened or is not a regular file.
UniqueFd open_lock_file(int dir_fd, const std::string& name, const std::string& for_file);

/// An exclusive flock(2) on "<file>.lock" beside the file a save of `path` replaces (`path` with its
/// symbolic links resolved, see resolve_link_chain), held from construction to destruction. The lock
/// file is opened by open_lock_file. flock locks belong to an open file
/// description: two WriterLocks on one file exclude each other even within one process (a second
/// one on the same thread waits for itself: give it a timeout), and a child forked while a lock is
/// held shares it until both have released it. The lock is advisory: it binds only writers that take
/// it. Not thread-safe itself; one object per holder.
class WriterLock {
 public:
  /// Waits until the lock is held. `timeout`: std::nullopt waits as long as it takes; otherwise the
  /// longest wait (zero tries once), polled every few milliseconds. `keep_waiting`, when given, is
  /// called between polls (from this thread); once it returns false the wait ends with
  /// Status::Cancelled. Throws Status::Conflict when the wait times out (the message names the lock
  /// file and, when /proc/locks tells, the holder's pid), Status::Io when the lock file cannot be
  /// created or opened (for instance it is a symbolic link or not a regular file) or flock fails.
  explicit WriterLock(const std::string& path, std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                      const std::function<bool()>& keep_waiting = {});
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock();  ///< releases the lock (closes the lock file)

  /// "<resolved path>.lock".
  const std::string& lock_path() const noexcept { return lock_path_; }

 private:
  std::string lock_path_;
  UniqueFd fd_;
  struct stat held_ {};  ///< the lock file's identity once held (see CommitLock)
};

/// The commit lock of the file `name` in `dir_fd`: an exclusive open-file-description record lock
/// (fcntl F_OFD_SETLK, F_WRLCK, byte 1) on its lock file (open_lock_file), held while a writer checks
/// the version on disk and renames its new file over it (SectionWriter::commit). Two commits exclude
/// each other in any process or thread. A process that holds a WriterLock on the file takes the
/// commit lock on that WriterLock's own open file description, so it never waits for itself: on local
/// file systems flock and record locks are independent anyway, and where flock is emulated by a
/// record lock (NFS) one description's locks never conflict with each other. Throws Status::Conflict naming `for_file`
/// when another writer holds it for longer than `timeout`, Status::Io when it cannot be taken.
class CommitLock {
 public:
  CommitLock(int dir_fd, const std::string& name, const std::string& for_file, std::chrono::milliseconds timeout);
  CommitLock(const CommitLock&) = delete;
  CommitLock& operator=(const CommitLock&) = delete;
  ~CommitLock();  ///< releases the lock (explicitly: its description may outlive it, see above)

 private:
  std::unique_lock<std::timed_mutex> in_process_;  ///< one commit at a time within the process
  UniqueFd fd_;
};

}  // namespace domainsearch::detail
