#pragma once
// Internal: Pipeline::query_objects. Finds the products of a photo, with the configured object finder
// (a box head over the backbone's maps, tools/train_object_finder.py) or else in the segmenter's map of
// the whole photo cut by object_proposals, and answers each with the catalogue, joining neighbouring
// parts of a segmenter region that the catalogue recognises better as one.
// Thread-safety: query() may run from many threads at once; the models are loaded by the first query
// (a catalogue that never answers object queries never loads them).

#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>

#include "domainsearch/object_query.hpp"
#include "domainsearch/pipeline_config.hpp"
#include "objects/object_proposals.hpp"

namespace domainsearch::detail {

class Catalogue;
class ModelRunner;

class ObjectSearch {
 public:
  /// Remembers which models to load (config.object_finder_manifest, else config.segmenter_manifest, on
  /// config.runtime) and how the segmenter's map is cut.
  explicit ObjectSearch(const PipelineConfig& config);
  ~ObjectSearch();

  /// Throws InvalidArgument for options out of range or a configuration with neither an object finder nor
  /// a segmenter, ModelMismatch for an "object_finder" that is not one, and what the catalogue's query
  /// throws (NotFound for an empty catalogue, ...).
  ObjectsResponse query(const Catalogue& catalogue, const Image& image, const ObjectQueryOptions& options) const;

 private:
  // Where the products are: their parts and a CV_8U mask over the photo (255: product pixels), or no
  // mask when each part is wholly product (the finder's boxes).
  struct Found {
    std::vector<ObjectProposal> parts;
    cv::Mat mask;
  };
  Found find_with_model(const Image& image, const ObjectQueryOptions& o) const;
  Found find_in_segments(const Image& image, const ObjectQueryOptions& o) const;
  const Localizer& segmenter() const;
  const ModelRunner& finder() const;
  // CV_8U 0/255 over the photo: where products are (ObjectQueryOptions::mask_threshold, resegment_above).
  cv::Mat product_mask(const Image& image, const ObjectQueryOptions& o) const;

  std::string segmenter_manifest_, finder_manifest_;
  RuntimeOptions runtime_;
  LocalizerOptions localizer_;
  mutable std::mutex load_;
  mutable std::shared_ptr<const Localizer> segmenter_;    // set once under load_, then only read
  mutable std::shared_ptr<const ModelRunner> finder_;     // likewise
};

/// Throws InvalidArgument naming the first setting out of range.
void validate(const ObjectQueryOptions& options);

}  // namespace domainsearch::detail
