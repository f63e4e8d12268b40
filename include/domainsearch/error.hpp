#pragma once
// Error reporting for the whole library. Every failure is a domainsearch::Error carrying a Status
// code (stable, shared with the C ABI's ds_status) and a message naming the file, key or value at
// fault. No other exception type escapes a public function.

#include <stdexcept>
#include <string>

#include "domainsearch/export.hpp"

namespace domainsearch {

/// Stable status codes. Values are never reused or renumbered; new codes are appended.
enum class Status : int {
  Ok = 0,
  InvalidArgument = 1,    ///< a caller-supplied value is out of its documented range
  Io = 2,                 ///< a file could not be opened, read, written or renamed
  FormatVersion = 3,      ///< a file was written by a newer, unsupported format version
  Corrupt = 4,            ///< a file or buffer fails its checks (magic, checksum, lengths)
  ModelMismatch = 5,      ///< a model or manifest does not match what was expected
  DeviceUnavailable = 6,  ///< an inference device (e.g. CUDA) was asked for and is absent
  ImageDecode = 7,        ///< bytes are not a decodable, complete image
  ImageTooSmall = 8,      ///< an image is below the configured minimum side
  ImageTooLarge = 9,      ///< an image exceeds the configured pixel limit
  NotFound = 10,          ///< a key, category or file does not exist
  AlreadyExists = 11,     ///< a key is already present where a new one was required
  Cancelled = 12,         ///< a progress callback asked to stop
  Internal = 13,          ///< a bug or an unexpected failure of a dependency
  OutOfMemory = 14,       ///< an allocation failed (std::bad_alloc)
  Conflict = 15,          ///< the file changed since it was opened (e.g. a save over a catalogue that
                          ///< another writer changed); reopen and retry
};

/// Short stable name of a status, e.g. "ImageDecode".
DS_API const char* status_name(Status status) noexcept;

/// The one exception type thrown by libdomainsearch.
class DS_API Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message);
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

}  // namespace domainsearch
