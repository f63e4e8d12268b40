#include "domainsearch/catalogue_lock.hpp"

#include "io/writer_lock.hpp"

namespace domainsearch {

struct CatalogueLock::Held {
  detail::WriterLock lock;
};

CatalogueLock::CatalogueLock(const std::string& catalogue_path, std::optional<std::chrono::milliseconds> timeout)
    : held_(new Held{detail::WriterLock(catalogue_path, timeout)}) {}
CatalogueLock::CatalogueLock(const std::string& catalogue_path, std::optional<std::chrono::milliseconds> timeout,
                             const std::function<bool()>& keep_waiting)
    : held_(new Held{detail::WriterLock(catalogue_path, timeout, keep_waiting)}) {}
CatalogueLock::~CatalogueLock() = default;
CatalogueLock::CatalogueLock(CatalogueLock&&) noexcept = default;
CatalogueLock& CatalogueLock::operator=(CatalogueLock&&) noexcept = default;

const std::string& CatalogueLock::lock_path() const noexcept { return held_->lock.lock_path(); }

}  // namespace domainsearch
