#pragma once
// Internal: the one way from images and image files to analyses (localisation, then embedding), used by
// indexing, analyze_entries, re-embedding after fine-tuning and the category head's augmented views.
// Every run isolates bad input the same way: a file that cannot be decoded, or an image a model fails
// on, costs only its own analysis and comes back as that entry's error, naming the file.
// Thread-safe (const; the networks are shared read-only).
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "domainsearch/catalogue.hpp"
#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/localizer.hpp"
#include "domainsearch/query.hpp"

namespace domainsearch::detail {

class ImageAnalyzer {
 public:
  /// `segmenter` null: no localisation (the whole image is embedded). Images go to the networks
  /// `batch_size` at a time; files are decoded under `limits`.
  ImageAnalyzer(std::shared_ptr<const Localizer> segmenter, int batch_size, DecodeLimits limits);

  const Localizer* segmenter() const noexcept { return segmenter_.get(); }
  const DecodeLimits& limits() const noexcept { return limits_; }

  /// Localises (when there is a segmenter and `localize`) and embeds with `embedder`, in one pass;
  /// fills the localise/embed timings when given. Throws what the models throw.
  std::vector<ImageAnalysis> analyze(const FeatureExtractor& embedder, const std::vector<Image>& images, StageTimings* timings = nullptr,
                                     bool localize = true) const;
  /// analyze(), batch_size images at a time.
  std::vector<ImageAnalysis> analyze_in_batches(const FeatureExtractor& embedder, const std::vector<Image>& images) const;

  /// Called with (index into the entries, outcome) for each entry of a run, in order.
  using Sink = std::function<void(std::size_t, EntryAnalysis&&)>;
  /// Applied to each decoded image before it is analysed (e.g. an augmented view); may throw Error,
  /// which fails that entry only.
  using Transform = std::function<Image(Image)>;
  /// Decodes and analyses entries[todo[i]].path, batch_size at a time, the next batch decoding on a
  /// helper thread while the models work on this one (`transform` runs there too, in entry order).
  /// Returns false when progress(done, todo.size()) asked to stop after a batch.
  bool analyze_files(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo,
                     const ProgressFn& progress, const Sink& sink, const Transform& transform = {}) const;

 private:
  struct DecodedBatch {
    std::vector<Image> images;
    std::vector<std::size_t> entry_index;                      // which entry each image came from
    std::vector<std::pair<std::size_t, EntryAnalysis>> failures;  // entry, why it could not be decoded
  };
  DecodedBatch decode(const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo, std::size_t first, std::size_t last,
                      const Transform& transform) const;
  // Analyses a batch in one pass; when that fails, image by image, so one bad image is isolated.
  std::vector<EntryAnalysis> analyze_isolated(const FeatureExtractor& embedder, const std::vector<Image>& images) const;

  std::shared_ptr<const Localizer> segmenter_;
  std::size_t batch_size_;
  DecodeLimits limits_;
};

}  // namespace domainsearch::detail
