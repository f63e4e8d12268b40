#pragma once
// Internal: the container under every libdomainsearch file (docs/format.md). A 64-byte header
// (magic, format version, section table location, file size, generation, CRCs) and tagged sections,
// each checksummed with CRC-32C and aligned to 64 bytes. Little-endian.
//
// SectionWriter writes to a fresh, exclusively created temporary file beside the file it replaces
// (the end of `path`'s chain of symbolic links) and, on commit(), fsyncs it, renames it over that file
// and fsyncs the directory: the file is always either the old or the new version, and a link at
// `path` stays a link. Each commit writes the next generation number. A writer that read the file
// passes the version it read as `expected`: commit() then holds the file's commit lock (CommitLock,
// io/writer_lock.hpp) from the check of the version on disk to the rename, so of two writers that
// read one version exactly one replaces it and the other gets Conflict, in any process or thread.
// Writers that want to wait instead of retrying also hold a WriterLock for their open-modify-save.
// Only regular files are read or replaced: a FIFO, device, socket or directory is refused before a
// byte moves. SectionReader validates the header and table before any section is read, and every
// length before anything is allocated. Neither class is thread-safe; use one per thread.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/file_safety.hpp"

namespace domainsearch::detail {

using SectionTag = std::array<char, 4>;

/// Identity of a file kind: its magic and the format version this build writes and reads.
struct FileKind {
  std::array<char, 8> magic;
  std::uint16_t major;
  std::uint16_t minor;
  const char* name;  ///< for messages, e.g. "index"
};

/// One saved version of a file: its generation and its header's CRC-32C, which covers the section
/// table's CRC and so every section's. Two files of one generation with different content differ in
/// header_crc. A version built from a generation alone (header_crc empty) compares generations only.
struct FileVersion {
  FileVersion(std::uint64_t generation_number = 0, std::optional<std::uint32_t> crc = std::nullopt)  // NOLINT: implicit on purpose
      : generation(generation_number), header_crc(crc) {}
  std::uint64_t generation;
  std::optional<std::uint32_t> header_crc;

  /// Whether a file of version `on_disk` (a full version) is this one.
  bool matches(const FileVersion& on_disk) const noexcept {
    return generation == on_disk.generation && (!header_crc || header_crc == on_disk.header_crc);
  }
  std::string describe() const;  ///< "generation 3" (for messages)
};

/// Where a file was read from or last saved to, and its version then: what a later save of the same
/// file must find on disk (see expected_version).
struct FileOrigin {
  std::string canonical_path;  ///< see canonical_file_path
  FileVersion version;
};

/// `path` absolute, with every symbolic link resolved (those of an absent tail kept as written), so
/// two names of one file compare equal: "dir/cat", "./dir/cat", "link-to-dir/cat", "link-to-cat".
std::string canonical_file_path(const std::string& path);

/// The version a save of `save_path` must find on disk: the origin's version when `save_path` names
/// the origin's file, nothing otherwise (a save elsewhere replaces whatever is there).
std::optional<FileVersion> expected_version(const std::optional<FileOrigin>& origin, const std::string& save_path);

/// One row of the section table.
struct SectionEntry {
  SectionTag tag;
  std::uint32_t crc;
  std::uint64_t offset;
  std::uint64_t length;
};

class SectionWriter {
 public:
  /// Prepares a save of `path`: resolves its symbolic links, removes temporaries that dead writers
  /// left beside the file (io/file_safety.hpp) and creates this writer's own temporary there.
  /// `expected`: the version the caller read when it opened the file (generation 0 for a file it
  /// creates); commit() then refuses to replace a file of another version. Throws Io, also when the
  /// file to replace exists and is not a regular file (a device, FIFO, socket or directory is never
  /// replaced) or a link to it is one the kernel's protected_symlinks would not follow.
  SectionWriter(const std::string& path, const FileKind& kind, std::optional<FileVersion> expected = std::nullopt);
  ~SectionWriter();  ///< removes the temporary file unless commit() succeeded
  SectionWriter(const SectionWriter&) = delete;
  SectionWriter& operator=(const SectionWriter&) = delete;

  /// Starts a section; its bytes are given by append() until end_section().
  void begin_section(SectionTag tag);
  void append(const void* data, std::size_t size);
  void end_section();
  /// begin_section + append + end_section.
  void add_section(SectionTag tag, const void* data, std::size_t size);
  /// Writes the table and header, then publishes the file atomically with generation
  /// (the expected one, or else the replaced file's generation, or 0 when there is none or it is
  /// not a valid header of this kind) + 1, and with the replaced file's permission bits, owner and
  /// group (as far as the writer may; a new file gets 0644 less the umask). Holds the file's
  /// CommitLock from the version check to the rename.
  /// Throws Conflict when an expected version was given and the file exists with another one (or
  /// one that cannot be read), or the commit lock stays held by another writer for 30 s: the file is
  /// left untouched. Throws Io on any other failure.
  void commit();

  /// The generation commit() wrote; 0 before a successful commit().
  std::uint64_t generation() const noexcept { return version_.generation; }
  /// The version commit() wrote (generation and header CRC).
  const FileVersion& version() const noexcept { return version_; }
  /// The temporary file being written, e.g. "dir/catalogue.dscat.tmp.4242.9f3c01d2e4b5a6c7".
  const std::string& temp_path() const noexcept { return temp_path_; }

 private:
  /// The file about to be replaced: absent, or its attributes and (when it is a readable file of
  /// this kind) its generation.
  struct Replaced {
    std::optional<struct stat> attributes;
    std::optional<FileVersion> version;
  };
  Replaced inspect_replaced() const;
  void check_expected_version(const Replaced& replaced) const;
  void write_raw(const void* data, std::size_t size);
  void pad_to_alignment();

  std::string path_;       ///< as the caller gave it, for messages
  std::string name_;       ///< the replaced file's name in dir_
  std::string temp_name_;  ///< the temporary's name in dir_
  std::string temp_path_;
  FileKind kind_;
  std::optional<FileVersion> expected_;
  FileVersion version_;
  UniqueFd dir_;  ///< the directory of the replaced file; every step goes through it
  UniqueFd fd_;   ///< the temporary, until commit() closes it
  std::uint64_t position_ = 0;
  bool in_section_ = false;
  bool committed_ = false;
  std::vector<SectionEntry> entries_;
};

class SectionReader {
 public:
  /// Opens and validates `path`. Throws Io (cannot open, or not a regular file: a FIFO or device is
  /// refused without blocking or reading), Corrupt (bad magic, CRC, lengths, truncation) or
  /// FormatVersion (a newer major version than `kind.major`).
  SectionReader(const std::string& path, const FileKind& kind);

  const std::string& path() const noexcept { return path_; }
  /// The file's generation: 1 after its first save by a writer that counts, +1 per save since; 0
  /// for files written before generations existed.
  std::uint64_t generation() const noexcept { return version_.generation; }
  /// The file's full version (generation and header CRC), what a save of it expects to find.
  const FileVersion& version() const noexcept { return version_; }
  /// Where this file was read from, for a later save (see expected_version).
  FileOrigin origin() const { return {canonical_file_path(path_), version_}; }
  bool has(SectionTag tag) const noexcept;
  /// Length in bytes of a section; throws Corrupt when it is missing.
  std::uint64_t length(SectionTag tag) const;
  /// Reads a whole section after checking its length is at most `max_length`; verifies its CRC.
  std::vector<std::uint8_t> read(SectionTag tag, std::uint64_t max_length) const;
  /// Reads a section whose length must be exactly `size` into `dst`; verifies its CRC.
  void read_into(SectionTag tag, void* dst, std::uint64_t size) const;

 private:
  const SectionEntry& find(SectionTag tag) const;

  std::string path_;
  std::string kind_name_;
  FileVersion version_;
  std::vector<SectionEntry> entries_;
  UniqueFd fd_;
};

/// "ABCD" -> SectionTag.
constexpr SectionTag tag(const char (&s)[5]) { return {s[0], s[1], s[2], s[3]}; }

}  // namespace domainsearch::detail
