#pragma once
// Internal: replacing a small file the library owns (shards.json) the way SectionWriter replaces a
// container file (docs/format.md, "Writers"; README "Reliability"): an exclusive temporary beside the
// file, fsync, rename under the file's commit lock, fsync of the folder. POSIX (Linux); thread-safe.

#include <string>

namespace domainsearch::detail {

/// Makes `path` (the end of its chain of symbolic links, see resolve_link_chain) hold exactly `bytes`,
/// atomically: a reader sees the old or the new content, never a mix; the new file keeps the old one's
/// mode and owner (a new one: 0644 less the umask). Throws Io, also when the file to replace is not a
/// regular file (it is then left alone), or Conflict when another writer holds the commit lock for 30 s.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace domainsearch::detail
