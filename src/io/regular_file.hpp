#pragma once
// Internal: reading a file the library is handed by path (catalogue, index, configuration, manifest,
// CSV, labels, image), refusing anything that is not a regular file before a byte is read, so a FIFO
// never blocks, a device is never read (/dev/zero as a CSV) and a size limit holds. POSIX (Linux);
// thread-safe.

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "domainsearch/error.hpp"
#include "io/file_safety.hpp"

namespace domainsearch::detail {

/// "a FIFO", "a character device", "a directory", ... for messages about a file that is not regular.
const char* file_type_name(mode_t mode) noexcept;

/// Opens `path` read-only (following symbolic links, as any reader does) once stat() says it is a
/// regular file (so a device is never opened), without waiting on a FIFO swapped in meanwhile
/// (O_NONBLOCK, cleared once fstat() on the descriptor confirms a regular file of at most `max_bytes`). `what` names the file's role in
/// messages ("configuration", "catalogue file"). On success `st` holds its attributes.
/// Errors (each naming the path and `what`): `not_regular` when it is not a regular file (default
/// Io), `too_large` when it is longer than max_bytes (default Io), Io when it cannot be opened.
UniqueFd open_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what, struct stat& st,
                           Status not_regular = Status::Io, Status too_large = Status::Io);

/// The whole content of the regular file `path` (see open_regular_file; at most `max_bytes`, read in
/// full up to the size fstat() gave: a file that shrinks meanwhile gives fewer bytes).
std::vector<std::uint8_t> read_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what,
                                            Status not_regular = Status::Io, Status too_large = Status::Io);

/// read_regular_file as text.
std::string read_text_file(const std::string& path, std::uint64_t max_bytes, const std::string& what);

/// Reads exactly `size` bytes at `offset` of the open file `fd` into `dst` (pread, EINTR retried).
/// Throws Io naming `path` when the file ends first or a read fails.
void read_exactly_at(int fd, void* dst, std::uint64_t size, std::uint64_t offset, const std::string& path);

/// Text files the library reads whole (configurations, manifests, label lists, CSVs, shards.json):
/// 256 MiB, far above any real one and far below what would exhaust memory.
constexpr std::uint64_t kMaxTextFileBytes = 256ull << 20;

}  // namespace domainsearch::detail
