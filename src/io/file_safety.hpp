#pragma once
// Internal: the file-system steps of a safe save (docs/format.md, "Writers"), for directories other
// users may write to. Every step acts through a directory descriptor on one name in it, so a path
// swapped meanwhile cannot redirect it; nothing here follows a symbolic link except
// resolve_link_chain, on purpose. POSIX (Linux); all functions are thread-safe.

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>

namespace domainsearch::detail {

/// Owns one file descriptor and closes it on destruction. -1 holds nothing.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  /// Closes the descriptor now (errors ignored: callers that care fsync first).
  void reset() noexcept;

 private:
  int fd_;
};

/// A path split at its last '/': the directory ("." when there is none, "/" for the root) and the name.
struct PathParts {
  std::string directory;
  std::string name;
};
PathParts split_path(const std::string& path);

/// The file a save of `path` must replace: `path` itself or, when it is a symbolic link, the end of
/// its chain of links (a relative link is resolved against the directory holding it). The end need
/// not exist yet. Directory links along the way are left in the path: the kernel follows them.
/// A link is followed only where the kernel's protected_symlinks rule (fs.protected_symlinks = 1)
/// would follow it: in a sticky world-writable directory (such as /tmp) only a link owned by this
/// process's user or by the directory's owner, so a link planted there by another user cannot send
/// a save elsewhere. Throws Io when a link cannot be read, is refused by that rule, or the chain is
/// longer than 40 links (a loop).
std::string resolve_link_chain(const std::string& path);

/// Opens `directory` for the *at() calls below. Throws Io naming `directory` and `for_file`.
UniqueFd open_directory(const std::string& directory, const std::string& for_file);

/// A freshly created temporary file: its write-only descriptor and its name in the directory.
struct Temporary {
  UniqueFd fd;
  std::string name;
};

/// Creates "<name>.tmp.<pid>.<16 random hex digits>" in `dir_fd` with
/// O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC and permission bits `mode` (less the umask), so a file or
/// link planted under that name is never opened; draws a new suffix (getrandom(2)) while the name
/// exists. Throws Io naming `for_file` when the file cannot be created.
Temporary create_temporary(int dir_fd, const std::string& name, mode_t mode, const std::string& for_file);

/// The writer pid in `entry` when it is exactly "<name>.tmp.<pid>.<1 to 16 lowercase hex digits>"
/// (this build's temporaries, and the decimal counters of older builds); nothing otherwise.
std::optional<pid_t> temporary_writer(const std::string& entry, const std::string& name);

/// Removes from `dir_fd` the temporaries of `name` (see temporary_writer) that are regular files
/// (symbolic links are neither followed nor removed) and whose writer process no longer exists
/// (kill(pid, 0) fails with ESRCH). A live writer's temporary is kept. Best effort: failures are
/// ignored, since a leftover temporary is only wasted space.
void remove_stale_temporaries(int dir_fd, const std::string& name) noexcept;

/// The attributes of the regular file `name` in `dir_fd`, not following a link; nothing when the
/// name is absent. A link or other non-regular file is returned as is (callers check S_ISREG).
/// Throws Io naming `for_file` on any other failure.
std::optional<struct stat> stat_entry(int dir_fd, const std::string& name, const std::string& for_file);

/// Gives the file open as `fd` the permission bits (0777; set-id and sticky bits are dropped) of
/// `old` and, as far as the caller may (fchown's EPERM is ignored, the group alone is then tried),
/// its owner and group. Throws Io naming `for_file` on any other failure.
void copy_owner_and_mode(int fd, const struct stat& old, const std::string& for_file);

}  // namespace domainsearch::detail
