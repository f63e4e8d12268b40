#include "catalogue/catalogue.hpp"

#include <chrono>
#include <future>
#include <unordered_set>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// Decodes a slice of entries (run on a helper thread while the models work on the previous slice).
Catalogue::DecodedBatch Catalogue::decode(const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo, std::size_t first, std::size_t last) const {
  DecodedBatch b;
  for (std::size_t i = first; i < last; ++i) {
    const CatalogueEntry& e = entries[todo[i]];
    try {
      b.images.push_back(Image::decode_file(e.path, config_.decode));
      b.entry_index.push_back(todo[i]);
    } catch (const Error& err) {
      b.failures.push_back({e.path, err.what()});
    }
  }
  return b;
}

// Embeds a batch; if the batch fails as a whole, embeds image by image so one bad image is isolated.
// Caller holds `writer`.
void Catalogue::embed_and_store(const std::vector<CatalogueEntry>& entries, DecodedBatch& batch, IndexingReport& report) {
  std::vector<std::string> errors;
  const std::vector<std::optional<ImageAnalysis>> embedded = analyze_isolated(batch.images, errors);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (std::size_t i = 0; i < batch.images.size(); ++i) {
    const CatalogueEntry& e = entries[batch.entry_index[i]];
    try {
      if (!embedded[i]) throw Error(Status::Internal, errors[i]);
      store(e.key.value_or(Pipeline::key_for_path(e.path)), *embedded[i], e.category, e.label, e.path, false);
      ++report.added;
    } catch (const Error& err) {
      report.failures.push_back({e.path, err.what()});
    }
  }
}

// Analyses a batch in one pass; when that fails, image by image, so one bad image is isolated
// (errors[i] says why images[i] has no analysis).
std::vector<std::optional<ImageAnalysis>> Catalogue::analyze_isolated(const std::vector<Image>& images, std::vector<std::string>& errors) const {
  std::vector<std::optional<ImageAnalysis>> out(images.size());
  errors.assign(images.size(), {});
  try {
    std::vector<ImageAnalysis> all = analyze(images);
    for (std::size_t i = 0; i < images.size(); ++i) out[i] = std::move(all[i]);
    return out;
  } catch (const Error&) {
  }
  for (std::size_t i = 0; i < images.size(); ++i) {
    try {
      out[i] = analyze({images[i]}).front();
    } catch (const Error& e) {
      errors[i] = e.what();
    }
  }
  return out;
}

IndexingReport Catalogue::index_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) {
  const std::lock_guard<std::mutex> writing(writer_);
  const auto start = Clock::now();
  IndexingReport report;
  std::vector<std::size_t> todo;
  std::unordered_set<std::uint64_t> seen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::uint64_t key = entries[i].key.value_or(Pipeline::key_for_path(entries[i].path));
    if (entries[i].category.empty()) report.failures.push_back({entries[i].path, "no category given"});
    else if (index_->contains(key) || !seen.insert(key).second) ++report.skipped_existing;
    else todo.push_back(i);
  }
  const std::size_t batch = static_cast<std::size_t>(config_.batch_size);
  std::future<DecodedBatch> next = std::async(std::launch::async, [&] { return decode(entries, todo, 0, std::min(batch, todo.size())); });
  for (std::size_t first = 0; first < todo.size(); first += batch) {
    DecodedBatch current = next.get();
    const std::size_t last = std::min(first + batch, todo.size());
    if (last < todo.size())
      next = std::async(std::launch::async, [&, last] { return decode(entries, todo, last, std::min(last + batch, todo.size())); });
    report.failures.insert(report.failures.end(), current.failures.begin(), current.failures.end());
    embed_and_store(entries, current, report);
    if (progress && !progress(last, todo.size())) {
      report.cancelled = true;
      if (next.valid()) next.wait();
      break;
    }
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace domainsearch::detail
