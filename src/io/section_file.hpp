#pragma once
// Internal: the container under every libdomainsearch file (docs/format.md). A 64-byte header
// (magic, format version, section table location, file size, generation, CRCs) and tagged sections,
// each checksummed with CRC-32C and aligned to 64 bytes. Little-endian.
//
// SectionWriter writes to a fresh, exclusively created temporary file beside the file it replaces
// (the end of `path`'s chain of symbolic links) and, on commit(), fsyncs it, renames it over that file
// and fsyncs the directory: the file is always either the old or the new version, and a link at
// `path` stays a link. Each commit writes the next generation number. Writers that may race hold a
// WriterLock (io/writer_lock.hpp) for their whole open-modify-save and pass the generation they read
// as `expected_generation`. SectionReader validates the header and table before any section is read,
// and every length before anything is allocated. Neither class is thread-safe; use one per thread.

#include <array>
#include <cstdint>
#include <fstream>
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
  /// `expected_generation`: the generation the caller read when it opened the file (0 for a file it
  /// creates); commit() then refuses to replace a file of another generation. Throws Io.
  SectionWriter(const std::string& path, const FileKind& kind, std::optional<std::uint64_t> expected_generation = std::nullopt);
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
  /// (expected_generation, or else the replaced file's generation, or 0 when there is none or it is
  /// not a valid header of this kind) + 1, and with the replaced file's permission bits, owner and
  /// group (as far as the writer may; a new file gets 0644 less the umask).
  /// Throws Conflict when an expected generation was given and the file exists with another one (or
  /// one that cannot be read): the file is left untouched. The check is only meaningful while the
  /// caller holds the file's WriterLock. Throws Io on any other failure.
  void commit();

  /// The generation commit() wrote; 0 before a successful commit().
  std::uint64_t generation() const noexcept { return generation_; }
  /// The temporary file being written, e.g. "dir/catalogue.dscat.tmp.4242.9f3c01d2e4b5a6c7".
  const std::string& temp_path() const noexcept { return temp_path_; }

 private:
  /// The file about to be replaced: absent, or its attributes and (when it is a readable file of
  /// this kind) its generation.
  struct Replaced {
    std::optional<struct stat> attributes;
    std::optional<std::uint64_t> generation;
  };
  Replaced inspect_replaced() const;
  void check_expected_generation(const Replaced& replaced) const;
  void write_raw(const void* data, std::size_t size);
  void pad_to_alignment();

  std::string path_;       ///< as the caller gave it, for messages
  std::string name_;       ///< the replaced file's name in dir_
  std::string temp_name_;  ///< the temporary's name in dir_
  std::string temp_path_;
  FileKind kind_;
  std::optional<std::uint64_t> expected_generation_;
  std::uint64_t generation_ = 0;
  UniqueFd dir_;  ///< the directory of the replaced file; every step goes through it
  UniqueFd fd_;   ///< the temporary, until commit() closes it
  std::uint64_t position_ = 0;
  bool in_section_ = false;
  bool committed_ = false;
  std::vector<SectionEntry> entries_;
};

class SectionReader {
 public:
  /// Opens and validates `path`. Throws Io (cannot open), Corrupt (bad magic, CRC, lengths, truncation)
  /// or FormatVersion (a newer major version than `kind.major`).
  SectionReader(const std::string& path, const FileKind& kind);

  const std::string& path() const noexcept { return path_; }
  std::uint16_t minor_version() const noexcept { return minor_; }
  /// The file's generation: 1 after its first save by a writer that counts, +1 per save since; 0
  /// for files written before generations existed.
  std::uint64_t generation() const noexcept { return generation_; }
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
  std::uint16_t minor_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<SectionEntry> entries_;
  mutable std::ifstream file_;
};

/// "ABCD" -> SectionTag.
constexpr SectionTag tag(const char (&s)[5]) { return {s[0], s[1], s[2], s[3]}; }

}  // namespace domainsearch::detail
