#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "domainsearch/error.hpp"
#include "io/file_safety.hpp"
#include "io/regular_file.hpp"
#include "io/writer_lock.hpp"

namespace domainsearch::detail {
namespace {

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Status::Io, path + ": write failed (" + errno_text() + ")");
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const PathParts target = split_path(resolve_link_chain(path));
  const UniqueFd dir = open_directory(target.directory, path);
  const auto refuse_non_regular = [&](const std::optional<struct stat>& st) {
    if (st && !S_ISREG(st->st_mode))
      throw Error(Status::Io, path + ": is " + std::string(file_type_name(st->st_mode)) + ", not a regular file; refusing to replace it");
  };
  const std::optional<struct stat> old = stat_entry(dir.get(), target.name, path);
  refuse_non_regular(old);
  remove_stale_temporaries(dir.get(), target.name);
  Temporary temp = create_temporary(dir.get(), target.name, old ? (old->st_mode & 0777) : 0644, path);
  try {
    write_all(temp.fd.get(), bytes, path);
    if (::fsync(temp.fd.get()) != 0) throw Error(Status::Io, path + ": fsync failed (" + errno_text() + ")");
    const CommitLock committing(dir.get(), target.name, path, std::chrono::seconds(30));
    const std::optional<struct stat> now = stat_entry(dir.get(), target.name, path);
    refuse_non_regular(now);
    if (now) copy_owner_and_mode(temp.fd.get(), *now, path);
    if (::renameat(dir.get(), temp.name.c_str(), dir.get(), target.name.c_str()) != 0)
      throw Error(Status::Io, path + ": cannot rename " + temp.name + " over it (" + errno_text() + ")");
  } catch (...) {
    ::unlinkat(dir.get(), temp.name.c_str(), 0);
    throw;
  }
  ::fsync(dir.get());  // the rename is done; a failure here only weakens durability across a power cut
}

}  // namespace domainsearch::detail
