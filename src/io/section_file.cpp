#include "io/section_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "domainsearch/error.hpp"
#include "io/crc32c.hpp"
#include "io/regular_file.hpp"
#include "io/writer_lock.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the file format is little-endian; add byte swapping");

namespace domainsearch::detail {
namespace {

constexpr std::size_t kHeaderSize = 64;
constexpr std::size_t kEntrySize = 32;
constexpr std::size_t kAlignment = 64;
constexpr std::uint32_t kMaxSections = 4096;
constexpr std::size_t kGenerationOffset = 36;  // u64 in the header's formerly reserved bytes

template <typename T>
void put(std::uint8_t* dst, T value) { std::memcpy(dst, &value, sizeof(T)); }
template <typename T>
T get(const std::uint8_t* src) { T v; std::memcpy(&v, src, sizeof(T)); return v; }

std::string tag_name(SectionTag tag) { return std::string(tag.data(), 4); }
std::string errno_text() { return std::strerror(errno); }

constexpr std::chrono::seconds kCommitLockWait{30};  // the window it guards: a header write, its fsync and the rename

// The version of a header of `kind`; nothing when the bytes are not one (wrong magic or checksum).
std::optional<FileVersion> header_version(const std::uint8_t* header, const FileKind& kind) {
  if (std::memcmp(header, kind.magic.data(), 8) != 0 || get<std::uint32_t>(header + 60) != crc32c(header, 60)) return std::nullopt;
  return FileVersion(get<std::uint64_t>(header + kGenerationOffset), get<std::uint32_t>(header + 60));
}

}  // namespace

std::string FileVersion::describe() const { return "generation " + std::to_string(generation); }

std::string canonical_file_path(const std::string& path) {
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) return path;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(absolute, error);
  return (error ? absolute.lexically_normal() : canonical).string();
}

std::optional<FileVersion> expected_version(const std::optional<FileOrigin>& origin, const std::string& save_path) {
  if (!origin || origin->canonical_path != canonical_file_path(save_path)) return std::nullopt;
  return origin->version;
}

SectionWriter::SectionWriter(const std::string& path, const FileKind& kind, std::optional<FileVersion> expected)
    : path_(path), kind_(kind), expected_(expected) {
  const std::string resolved = resolve_link_chain(path);
  const PathParts target = split_path(resolved);
  name_ = target.name;
  dir_ = open_directory(target.directory, path_);
  // Never more readable than the file it replaces, even while it is being written; never replaces
  // what is not a regular file (a device node, FIFO, socket or directory under the name).
  const auto old = stat_entry(dir_.get(), name_, path_);
  if (old && !S_ISREG(old->st_mode))
    throw Error(Status::Io, path_ + (resolved == path ? "" : " (a link to " + resolved + ")") + ": is " + file_type_name(old->st_mode) + ", not a regular file; refusing to replace it with a " + kind_.name + " file");
  remove_stale_temporaries(dir_.get(), name_);
  const mode_t mode = old ? (old->st_mode & 0777) : 0644;
  Temporary temp = create_temporary(dir_.get(), name_, mode, path_);
  fd_ = std::move(temp.fd);
  temp_name_ = std::move(temp.name);
  temp_path_ = target.directory + "/" + temp_name_;
  const std::uint8_t zeros[kHeaderSize] = {};
  try {
    write_raw(zeros, kHeaderSize);  // header placeholder, rewritten by commit()
  } catch (const Error&) {
    ::unlinkat(dir_.get(), temp_name_.c_str(), 0);  // no destructor runs for a constructor that throws
    throw;
  }
}

SectionWriter::~SectionWriter() {
  if (!committed_ && !temp_name_.empty()) ::unlinkat(dir_.get(), temp_name_.c_str(), 0);
}

void SectionWriter::write_raw(const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_.get(), p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Status::Io, path_ + ": write failed (" + errno_text() + ")");
    p += n;
    size -= static_cast<std::size_t>(n);
    position_ += static_cast<std::uint64_t>(n);
  }
}

void SectionWriter::pad_to_alignment() {
  const std::uint8_t zeros[kAlignment] = {};
  if (position_ % kAlignment != 0) write_raw(zeros, kAlignment - position_ % kAlignment);
}

void SectionWriter::begin_section(SectionTag tag) {
  if (in_section_) throw Error(Status::Internal, "SectionWriter: nested section " + tag_name(tag));
  pad_to_alignment();
  entries_.push_back(SectionEntry{tag, 0, position_, 0});
  in_section_ = true;
}

void SectionWriter::append(const void* data, std::size_t size) {
  SectionEntry& e = entries_.back();
  e.crc = crc32c(data, size, e.crc);
  e.length += size;
  write_raw(data, size);
}

void SectionWriter::end_section() { in_section_ = false; }

void SectionWriter::add_section(SectionTag tag, const void* data, std::size_t size) {
  begin_section(tag);
  append(data, size);
  end_section();
}

SectionWriter::Replaced SectionWriter::inspect_replaced() const {
  Replaced replaced;
  replaced.attributes = stat_entry(dir_.get(), name_, path_);
  if (!replaced.attributes || !S_ISREG(replaced.attributes->st_mode)) return replaced;
  const UniqueFd fd(::openat(dir_.get(), name_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  std::uint8_t header[kHeaderSize];
  if (fd.get() >= 0 && ::pread(fd.get(), header, kHeaderSize, 0) == static_cast<ssize_t>(kHeaderSize))
    replaced.version = header_version(header, kind_);
  return replaced;
}

void SectionWriter::check_expected_version(const Replaced& replaced) const {
  if (!expected_ || !replaced.attributes) return;
  if (replaced.version && expected_->matches(*replaced.version)) return;
  std::string found = "no longer a readable " + std::string(kind_.name) + " file";
  if (replaced.version)
    found = replaced.version->generation == expected_->generation ? "another file of the same generation" : replaced.version->describe();
  throw Error(Status::Conflict, path_ + " changed since it was opened (" + found + ", expected " + std::to_string(expected_->generation) +
                                    "): reopen it and apply the change again");
}

void SectionWriter::commit() {
  pad_to_alignment();
  const std::uint64_t table_offset = position_;
  std::vector<std::uint8_t> table(entries_.size() * kEntrySize, 0);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    std::uint8_t* e = table.data() + i * kEntrySize;
    std::memcpy(e, entries_[i].tag.data(), 4);
    put<std::uint32_t>(e + 4, entries_[i].crc);
    put<std::uint64_t>(e + 8, entries_[i].offset);
    put<std::uint64_t>(e + 16, entries_[i].length);
  }
  write_raw(table.data(), table.size());
  // The body reaches the disk before the commit lock is taken: under it, only the header is synced.
  if (::fdatasync(fd_.get()) != 0) throw Error(Status::Io, path_ + ": fdatasync failed (" + errno_text() + ")");

  // From the check of what is on disk to the rename, no other writer may commit (any process, any thread).
  const CommitLock committing(dir_.get(), name_, path_, kCommitLockWait);
  const Replaced replaced = inspect_replaced();
  if (replaced.attributes && !S_ISREG(replaced.attributes->st_mode))
    throw Error(Status::Io, path_ + ": became " + std::string(file_type_name(replaced.attributes->st_mode)) + " while being saved; refusing to replace it");
  check_expected_version(replaced);
  const std::uint64_t generation =
      (expected_ ? expected_->generation : (replaced.version ? replaced.version->generation : 0)) + 1;

  std::uint8_t header[kHeaderSize] = {};
  std::memcpy(header, kind_.magic.data(), 8);
  put<std::uint16_t>(header + 8, kind_.major);
  put<std::uint16_t>(header + 10, kind_.minor);
  put<std::uint32_t>(header + 12, static_cast<std::uint32_t>(entries_.size()));
  put<std::uint64_t>(header + 16, table_offset);
  put<std::uint64_t>(header + 24, position_);
  put<std::uint32_t>(header + 32, crc32c(table.data(), table.size()));
  put<std::uint64_t>(header + kGenerationOffset, generation);
  put<std::uint32_t>(header + 60, crc32c(header, 60));
  if (::pwrite(fd_.get(), header, kHeaderSize, 0) != static_cast<ssize_t>(kHeaderSize))
    throw Error(Status::Io, path_ + ": header write failed (" + errno_text() + ")");
  if (replaced.attributes && S_ISREG(replaced.attributes->st_mode)) copy_owner_and_mode(fd_.get(), *replaced.attributes, path_);
  if (::fsync(fd_.get()) != 0) throw Error(Status::Io, path_ + ": fsync failed (" + errno_text() + ")");
  fd_.reset();
  if (::renameat(dir_.get(), temp_name_.c_str(), dir_.get(), name_.c_str()) != 0)
    throw Error(Status::Io, path_ + ": cannot rename " + temp_path_ + " over it (" + errno_text() + ")");
  committed_ = true;
  version_ = FileVersion(generation, get<std::uint32_t>(header + 60));
  ::fsync(dir_.get());  // the rename is done; a failure here only weakens durability across a power cut
}

SectionReader::SectionReader(const std::string& path, const FileKind& kind) : path_(path), kind_name_(kind.name) {
  struct stat st {};
  fd_ = open_regular_file(path, UINT64_MAX, kind_name_ + " file", st);
  const auto actual_size = static_cast<std::uint64_t>(st.st_size);
  std::uint8_t header[kHeaderSize];
  if (actual_size < kHeaderSize)
    throw Error(Status::Corrupt, path + ": truncated " + kind_name_ + " file (" + std::to_string(actual_size) +
                                     " bytes, the header alone needs " + std::to_string(kHeaderSize) + ")");
  read_exactly_at(fd_.get(), header, kHeaderSize, 0, path);
  if (std::memcmp(header, kind.magic.data(), 8) != 0)
    throw Error(Status::Corrupt, path + ": not a libdomainsearch " + kind_name_ + " file (bad magic)");
  const auto major = get<std::uint16_t>(header + 8);
  const auto minor = get<std::uint16_t>(header + 10);
  if (major > kind.major)
    throw Error(Status::FormatVersion, path + ": written by " + kind_name_ + " format v" + std::to_string(major) + "." +
                                           std::to_string(minor) + ", this build reads v" + std::to_string(kind.major) + ".x");
  if (get<std::uint32_t>(header + 60) != crc32c(header, 60))
    throw Error(Status::Corrupt, path + ": header checksum mismatch");
  if (major != kind.major)
    throw Error(Status::FormatVersion, path + ": format v" + std::to_string(major) + " is not readable by this build");
  version_ = FileVersion(get<std::uint64_t>(header + kGenerationOffset), get<std::uint32_t>(header + 60));
  const auto count = get<std::uint32_t>(header + 12);
  const auto table_offset = get<std::uint64_t>(header + 16);
  const auto declared_size = get<std::uint64_t>(header + 24);
  if (declared_size != actual_size)
    throw Error(Status::Corrupt, path + ": file is " + std::to_string(actual_size) + " bytes but its header says " +
                                     std::to_string(declared_size) + " (truncated or appended to)");
  if (count > kMaxSections || table_offset < kHeaderSize || table_offset > actual_size ||
      (actual_size - table_offset) < static_cast<std::uint64_t>(count) * kEntrySize)
    throw Error(Status::Corrupt, path + ": section table out of bounds (" + std::to_string(count) + " sections at offset " +
                                     std::to_string(table_offset) + ")");
  std::vector<std::uint8_t> table(count * kEntrySize);
  read_exactly_at(fd_.get(), table.data(), table.size(), table_offset, path);
  if (get<std::uint32_t>(header + 32) != crc32c(table.data(), table.size()))
    throw Error(Status::Corrupt, path + ": section table checksum mismatch");
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint8_t* e = table.data() + i * kEntrySize;
    SectionEntry entry{{char(e[0]), char(e[1]), char(e[2]), char(e[3])}, get<std::uint32_t>(e + 4), get<std::uint64_t>(e + 8),
                get<std::uint64_t>(e + 16)};
    if (entry.offset < kHeaderSize || entry.offset > table_offset || entry.length > table_offset - entry.offset)
      throw Error(Status::Corrupt, path + ": section " + tag_name(entry.tag) + " lies outside the file");
    entries_.push_back(entry);
  }
}

bool SectionReader::has(SectionTag tag) const noexcept {
  for (const SectionEntry& e : entries_)
    if (e.tag == tag) return true;
  return false;
}

const SectionEntry& SectionReader::find(SectionTag tag) const {
  for (const SectionEntry& e : entries_)
    if (e.tag == tag) return e;
  throw Error(Status::Corrupt, path_ + ": " + kind_name_ + " file lacks its " + tag_name(tag) + " section");
}

std::uint64_t SectionReader::length(SectionTag tag) const { return find(tag).length; }

std::vector<std::uint8_t> SectionReader::read(SectionTag tag, std::uint64_t max_length) const {
  const SectionEntry& e = find(tag);
  if (e.length > max_length)
    throw Error(Status::Corrupt, path_ + ": section " + tag_name(tag) + " declares " + std::to_string(e.length) +
                                     " bytes, over its limit of " + std::to_string(max_length));
  std::vector<std::uint8_t> out(e.length);
  read_into(tag, out.data(), e.length);
  return out;
}

void SectionReader::read_into(SectionTag tag, void* dst, std::uint64_t size) const {
  const SectionEntry& e = find(tag);
  if (e.length != size)
    throw Error(Status::Corrupt, path_ + ": section " + tag_name(tag) + " is " + std::to_string(e.length) +
                                     " bytes, expected " + std::to_string(size));
  read_exactly_at(fd_.get(), dst, size, e.offset, path_ + " (section " + tag_name(tag) + ")");
  if (crc32c(dst, size) != e.crc) throw Error(Status::Corrupt, path_ + ": section " + tag_name(tag) + " checksum mismatch");
}

}  // namespace domainsearch::detail
