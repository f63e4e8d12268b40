#include "io/regular_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace domainsearch::detail {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

const char* file_type_name(mode_t mode) noexcept {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

UniqueFd open_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what, struct stat& st,
                           Status not_regular, Status too_large) {
  const auto require_regular = [&] {
    if (!S_ISREG(st.st_mode))
      throw Error(not_regular, path + ": is " + std::string(file_type_name(st.st_mode)) + ", not a regular file; the " + what + " must be a file");
  };
  // stat() first, so a device is never even opened (opening some has side effects); fstat() again on
  // the descriptor, since the path may have been replaced in between.
  if (::stat(path.c_str(), &st) != 0) throw Error(Status::Io, path + ": cannot open " + what + " (" + errno_text() + ")");
  require_regular();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(Status::Io, path + ": cannot open " + what + " (" + errno_text() + ")");
  if (::fstat(fd.get(), &st) != 0) throw Error(Status::Io, path + ": cannot read the attributes of " + what + " (" + errno_text() + ")");
  require_regular();
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    throw Error(too_large, path + ": the " + what + " is " + std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_bytes));
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    throw Error(Status::Io, path + ": cannot set up reading the " + what + " (" + errno_text() + ")");
  return fd;
}

std::vector<std::uint8_t> read_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what, Status not_regular,
                                            Status too_large) {
  struct stat st {};
  const UniqueFd fd = open_regular_file(path, max_bytes, what, st, not_regular, too_large);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Status::Io, path + ": read error in the " + what + " (" + errno_text() + ")");
    if (n == 0) break;  // the file shrank since fstat()
    filled += static_cast<std::size_t>(n);
  }
  bytes.resize(filled);
  return bytes;
}

std::string read_text_file(const std::string& path, std::uint64_t max_bytes, const std::string& what) {
  const std::vector<std::uint8_t> bytes = read_regular_file(path, max_bytes, what);
  return std::string(bytes.begin(), bytes.end());
}

void read_exactly_at(int fd, void* dst, std::uint64_t size, std::uint64_t offset, const std::string& path) {
  auto* p = static_cast<std::uint8_t*>(dst);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Status::Io, path + ": read error (" + errno_text() + ")");
    if (n == 0) throw Error(Status::Io, path + ": the file ended early (changed while being read?)");
    p += n;
    size -= static_cast<std::uint64_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

}  // namespace domainsearch::detail
