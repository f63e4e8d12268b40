#include "catalogue/image_analyzer.hpp"

#include <algorithm>
#include <chrono>
#include <future>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

}  // namespace

ImageAnalyzer::ImageAnalyzer(std::shared_ptr<const Localizer> segmenter, int batch_size, DecodeLimits limits)
    : segmenter_(std::move(segmenter)), batch_size_(static_cast<std::size_t>(std::max(batch_size, 1))), limits_(limits) {}

std::vector<ImageAnalysis> ImageAnalyzer::analyze(const FeatureExtractor& embedder, const std::vector<Image>& images, StageTimings* timings,
                                                  bool localize) const {
  std::vector<ImageAnalysis> out(images.size());
  const auto t0 = Clock::now();
  std::vector<Image> inputs;
  const bool localizing = localize && segmenter_;
  if (localizing) {
    std::vector<Localization> locs = segmenter_->localize_batch(images, static_cast<int>(batch_size_));
    for (std::size_t i = 0; i < locs.size(); ++i) {
      inputs.push_back(locs[i].cutout);
      out[i].contour = locs[i].contour;
      out[i].localization = std::move(locs[i]);
    }
  }
  const auto t1 = Clock::now();
  const std::vector<float> rows = embedder.extract_batch(localizing ? inputs : images);
  const std::size_t d = static_cast<std::size_t>(embedder.dimension());
  for (std::size_t i = 0; i < images.size(); ++i) out[i].embedding.assign(rows.begin() + i * d, rows.begin() + (i + 1) * d);
  if (timings) {
    timings->localize_ms = ms_between(t0, t1);
    timings->embed_ms = ms_between(t1, Clock::now());
  }
  return out;
}

std::vector<ImageAnalysis> ImageAnalyzer::analyze_in_batches(const FeatureExtractor& embedder, const std::vector<Image>& images) const {
  std::vector<ImageAnalysis> out;
  for (std::size_t first = 0; first < images.size(); first += batch_size_) {
    const std::vector<Image> slice(images.begin() + static_cast<std::ptrdiff_t>(first),
                                   images.begin() + static_cast<std::ptrdiff_t>(std::min(images.size(), first + batch_size_)));
    std::vector<ImageAnalysis> part = analyze(embedder, slice);
    std::move(part.begin(), part.end(), std::back_inserter(out));
  }
  return out;
}

ImageAnalyzer::DecodedBatch ImageAnalyzer::decode(const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo,
                                                  std::size_t first, std::size_t last, const Transform& transform) const {
  DecodedBatch b;
  for (std::size_t i = first; i < last; ++i) {
    try {
      Image image = Image::decode_file(entries[todo[i]].path, limits_);
      b.images.push_back(transform ? transform(std::move(image)) : std::move(image));
      b.entry_index.push_back(todo[i]);
    } catch (const Error& err) {
      b.failures.emplace_back(todo[i], EntryAnalysis{std::nullopt, err.what(), err.status()});
    }
  }
  return b;
}

std::vector<EntryAnalysis> ImageAnalyzer::analyze_isolated(const FeatureExtractor& embedder, const std::vector<Image>& images) const {
  std::vector<EntryAnalysis> out(images.size());
  try {
    std::vector<ImageAnalysis> all = analyze(embedder, images);
    for (std::size_t i = 0; i < images.size(); ++i) out[i].analysis = std::move(all[i]);
    return out;
  } catch (const Error&) {
  }
  for (std::size_t i = 0; i < images.size(); ++i) {
    try {
      out[i].analysis = analyze(embedder, {images[i]}).front();
    } catch (const Error& e) {
      out[i].error = e.what();
      out[i].status = e.status();
    }
  }
  return out;
}

bool ImageAnalyzer::analyze_files(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo,
                                  const ProgressFn& progress, const Sink& sink, const Transform& transform) const {
  const std::size_t batch = batch_size_;
  std::future<DecodedBatch> next =
      std::async(std::launch::async, [&] { return decode(entries, todo, 0, std::min(batch, todo.size()), transform); });
  for (std::size_t first = 0; first < todo.size(); first += batch) {
    DecodedBatch current = next.get();
    const std::size_t last = std::min(first + batch, todo.size());
    if (last < todo.size())
      next = std::async(std::launch::async, [&, last] { return decode(entries, todo, last, std::min(last + batch, todo.size()), transform); });
    for (auto& [entry, failure] : current.failures) sink(entry, std::move(failure));
    std::vector<EntryAnalysis> analysed = analyze_isolated(embedder, current.images);
    for (std::size_t i = 0; i < analysed.size(); ++i) sink(current.entry_index[i], std::move(analysed[i]));
    if (progress && !progress(last, todo.size())) {
      if (next.valid()) next.wait();
      return false;
    }
  }
  return true;
}

}  // namespace domainsearch::detail
