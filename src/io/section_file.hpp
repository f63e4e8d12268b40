#pragma once
// Internal: the container under every libdomainsearch file (docs/format.md). A 64-byte header
// (magic, format version, section table location, file size, CRCs) and tagged sections, each
// checksummed with CRC-32C and aligned to 64 bytes. Little-endian.
//
// SectionWriter writes to a temporary file beside the target and, on commit(), fsyncs it, renames it
// over the target and fsyncs the directory: the target is always either the old or the new file.
// SectionReader validates the header and table before any section is read, and every length before
// anything is allocated. Neither class is thread-safe; use one per thread.

#include <array>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

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
  SectionWriter(const std::string& path, const FileKind& kind);
  ~SectionWriter();  ///< removes the temporary file unless commit() succeeded
  SectionWriter(const SectionWriter&) = delete;
  SectionWriter& operator=(const SectionWriter&) = delete;

  /// Starts a section; its bytes are given by append() until end_section().
  void begin_section(SectionTag tag);
  void append(const void* data, std::size_t size);
  void end_section();
  /// begin_section + append + end_section.
  void add_section(SectionTag tag, const void* data, std::size_t size);
  /// Writes the table and header, then publishes the file atomically. Throws Io on failure.
  void commit();

 private:
  void write_raw(const void* data, std::size_t size);
  void pad_to_alignment();

  std::string path_;
  std::string temp_path_;
  FileKind kind_;
  int fd_ = -1;
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
  std::vector<SectionEntry> entries_;
  mutable std::ifstream file_;
};

/// "ABCD" -> SectionTag.
constexpr SectionTag tag(const char (&s)[5]) { return {s[0], s[1], s[2], s[3]}; }

}  // namespace domainsearch::detail
