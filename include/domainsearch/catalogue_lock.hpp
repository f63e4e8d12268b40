#pragma once
// CatalogueLock: the writer lock of a catalogue (or index) file (docs/format.md, "Writers"). A process
// that changes a catalogue holds it for its whole open-modify-save, so two writers, in one process or
// many, never both save changes made to the same old version. Readers never take it: a save is an
// atomic rename, so they always see a whole old or new file.
//
// Without it a save still cannot silently overwrite another writer's save: Pipeline::save refuses
// (Status::Conflict) to replace a file whose generation changed since the Pipeline opened or last
// saved it. The lock turns that refusal into waiting.
//
// Thread-safety: one object per holder. Errors: Status::Conflict when `timeout` passes first (the
// message names the lock file and, when the system tells, the holder's pid), Status::Io when the lock
// file ("<file>.lock" beside the file, symbolic links resolved) cannot be created or opened.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "domainsearch/export.hpp"

namespace domainsearch {

class DS_API CatalogueLock {
 public:
  /// Waits until the lock on `catalogue_path` is held; `timeout` bounds the wait (std::nullopt: no bound).
  explicit CatalogueLock(const std::string& catalogue_path, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  ~CatalogueLock();  ///< releases the lock
  CatalogueLock(CatalogueLock&&) noexcept;
  CatalogueLock& operator=(CatalogueLock&&) noexcept;

  /// The lock file's path.
  const std::string& lock_path() const noexcept;

 private:
  struct Held;
  std::unique_ptr<Held> held_;
};

}  // namespace domainsearch
