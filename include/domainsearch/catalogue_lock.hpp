#pragma once
// CatalogueLock: the writer lock of a catalogue (or index) file (docs/format.md, "Writers"). A process
// that changes a catalogue holds it for its whole open-modify-save, so two writers, in one process or
// many, never both save changes made to the same old version. Readers never take it: a save is an
// atomic rename, so they always see a whole old or new file.
//
// Without it a save still cannot silently overwrite another writer's save: every save (Pipeline,
// Index, C, Python) checks under a short commit lock that the file is still the version it opened or
// last saved, and refuses (Status::Conflict) otherwise. The CatalogueLock turns that refusal into
// waiting.
//
// The lock file ("<file>.lock" beside the file, symbolic links resolved) is created with read and
// write permission only for those who may write the catalogue, so a user who can merely read it
// cannot hold the lock and block its writers.
//
// Thread-safety: one object per holder. Errors: Status::Conflict when `timeout` passes first (the
// message names the lock file and, when the system tells, the holder's pid), Status::Cancelled when
// `keep_waiting` returned false, Status::Io when the lock file cannot be created or opened.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "domainsearch/export.hpp"

namespace domainsearch {

class DS_API CatalogueLock {
 public:
  /// Waits until the lock on `catalogue_path` is held; `timeout` bounds the wait (std::nullopt: no bound).
  explicit CatalogueLock(const std::string& catalogue_path, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  /// As above; while waiting, `keep_waiting` is called every few milliseconds (on this thread) and
  /// the wait ends with Status::Cancelled once it returns false (e.g. after Ctrl-C).
  CatalogueLock(const std::string& catalogue_path, std::optional<std::chrono::milliseconds> timeout, const std::function<bool()>& keep_waiting);
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
