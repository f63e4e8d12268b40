#include "io/file_safety.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

constexpr int kMaxLinks = 40;             // as the kernel's own limit (ELOOP)
constexpr int kMaxNameAttempts = 100;     // an existing random name is already a one-in-2^64 event
constexpr std::size_t kMaxPidDigits = 10;  // pid_t is 32 bits
constexpr std::size_t kMaxSuffixDigits = 16;

std::string errno_text() { return std::strerror(errno); }

std::string random_hex_suffix(const std::string& for_file) {
  std::uint64_t bits = 0;
  auto* p = reinterpret_cast<unsigned char*>(&bits);
  std::size_t got = 0;
  while (got < sizeof bits) {
    const ssize_t n = ::getrandom(p + got, sizeof bits - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Status::Io, for_file + ": no random bytes for a temporary file name (" + errno_text() + ")");
    got += static_cast<std::size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out(kMaxSuffixDigits, '0');
  for (std::size_t i = 0; i < kMaxSuffixDigits; ++i) out[i] = kHex[(bits >> (4 * i)) & 0xF];
  return out;
}

bool all_of(const std::string& s, const char* alphabet) { return s.find_first_not_of(alphabet) == std::string::npos; }

bool process_is_gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

std::string read_link(const std::string& link) {
  std::vector<char> buffer(256);
  for (;;) {
    const ssize_t n = ::readlink(link.c_str(), buffer.data(), buffer.size());
    if (n < 0) throw Error(Status::Io, link + ": cannot read the symbolic link (" + errno_text() + ")");
    if (static_cast<std::size_t>(n) < buffer.size()) return std::string(buffer.data(), static_cast<std::size_t>(n));
    buffer.resize(buffer.size() * 2);
  }
}

// The kernel's protected_symlinks rule (fs/namei.c, may_follow_link): a link in a sticky
// world-writable directory is followed only by its owner or when the directory's owner owns it.
void check_link_may_be_followed(const std::string& link, const struct stat& link_st) {
  struct stat dir;
  if (::stat(split_path(link).directory.c_str(), &dir) != 0) return;  // the save fails later, naming the directory
  const bool sticky_world_writable = (dir.st_mode & S_ISVTX) && (dir.st_mode & S_IWOTH);
  if (!sticky_world_writable || link_st.st_uid == ::geteuid() || link_st.st_uid == dir.st_uid) return;
  throw Error(Status::Io, link + ": is a symbolic link owned by another user (uid " + std::to_string(link_st.st_uid) +
                              ") in a sticky world-writable directory; refusing to follow it (as the kernel's protected_symlinks does)");
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void UniqueFd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

PathParts split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string resolve_link_chain(const std::string& path) {
  std::string current = path;
  for (int links = 0; links <= kMaxLinks; ++links) {
    struct stat st;
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return current;  // absent or the file itself
    check_link_may_be_followed(current, st);
    const std::string target = read_link(current);
    current = !target.empty() && target[0] == '/' ? target : split_path(current).directory + "/" + target;
  }
  throw Error(Status::Io, path + ": more than " + std::to_string(kMaxLinks) + " symbolic links in a chain (a loop?)");
}

UniqueFd open_directory(const std::string& directory, const std::string& for_file) {
  UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(Status::Io, for_file + ": cannot open its directory " + directory + " (" + errno_text() + ")");
  return fd;
}

Temporary create_temporary(int dir_fd, const std::string& name, mode_t mode, const std::string& for_file) {
  const std::string prefix = name + ".tmp." + std::to_string(::getpid()) + ".";
  for (int attempt = 0; attempt < kMaxNameAttempts; ++attempt) {
    std::string temp_name = prefix + random_hex_suffix(for_file);
    UniqueFd fd(::openat(dir_fd, temp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (fd.get() >= 0) return {std::move(fd), std::move(temp_name)};
    if (errno != EEXIST)
      throw Error(Status::Io, for_file + ": cannot create temporary file " + temp_name + " beside it (" + errno_text() + ")");
  }
  throw Error(Status::Io, for_file + ": every temporary file name tried beside it exists (" +
                              std::to_string(kMaxNameAttempts) + " random names)");
}

std::optional<pid_t> temporary_writer(const std::string& entry, const std::string& name) {
  const std::string prefix = name + ".tmp.";
  if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const std::string rest = entry.substr(prefix.size());
  const auto dot = rest.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string pid = rest.substr(0, dot), suffix = rest.substr(dot + 1);
  if (pid.empty() || pid.size() > kMaxPidDigits || pid[0] == '0' || !all_of(pid, "0123456789")) return std::nullopt;
  if (suffix.empty() || suffix.size() > kMaxSuffixDigits || !all_of(suffix, "0123456789abcdef")) return std::nullopt;
  const long long value = std::stoll(pid);
  if (value > 0x7FFFFFFF) return std::nullopt;
  return static_cast<pid_t>(value);
}

void remove_stale_temporaries(int dir_fd, const std::string& name) noexcept {
  try {
    const int listing_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (listing_fd < 0) return;
    const std::unique_ptr<DIR, int (*)(DIR*)> listing(::fdopendir(listing_fd), &::closedir);
    if (!listing) {
      ::close(listing_fd);
      return;
    }
    std::vector<std::string> stale;  // removed after the listing: readdir need not see a changing directory
    while (const dirent* entry = ::readdir(listing.get())) {
      const auto pid = temporary_writer(entry->d_name, name);
      if (pid && process_is_gone(*pid)) stale.emplace_back(entry->d_name);
    }
    for (const std::string& entry : stale) {
      struct stat st;
      if (::fstatat(dir_fd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        ::unlinkat(dir_fd, entry.c_str(), 0);  // removes the entry itself, never what a link names
    }
  } catch (const std::exception&) {
    // std::bad_alloc while listing: leave the temporaries for the next save.
  }
}

std::optional<struct stat> stat_entry(int dir_fd, const std::string& name, const std::string& for_file) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return st;
  if (errno == ENOENT) return std::nullopt;
  throw Error(Status::Io, for_file + ": cannot read its attributes (" + errno_text() + ")");
}

void copy_owner_and_mode(int fd, const struct stat& old, const std::string& for_file) {
  // Owner first: a chown may clear permission bits that fchmod then sets.
  if (::fchown(fd, old.st_uid, old.st_gid) != 0) {
    if (errno != EPERM) throw Error(Status::Io, for_file + ": cannot give the new file the old owner (" + errno_text() + ")");
    if (::fchown(fd, static_cast<uid_t>(-1), old.st_gid) != 0 && errno != EPERM)
      throw Error(Status::Io, for_file + ": cannot give the new file the old group (" + errno_text() + ")");
  }
  if (::fchmod(fd, old.st_mode & 0777) != 0)
    throw Error(Status::Io, for_file + ": cannot give the new file the old permissions (" + errno_text() + ")");
}

}  // namespace domainsearch::detail
