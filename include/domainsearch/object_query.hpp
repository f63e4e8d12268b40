#pragma once
// Several products in one photo (Pipeline::query_objects): what such a query asks (ObjectQueryOptions)
// and answers (ObjectsResponse: each product found, with its box and its own item answer, and the
// photo's items with their counts). Plain values.
//
// How products are found, without pretrained detector weights: with an object finder in the
// configuration (PipelineConfig::object_finder_manifest), a class-agnostic box head trained on the
// backbone's feature maps of synthetic scenes (tools/train_object_finder.py) marks each product's centre
// and size; without one, the segmenter's map of the whole photo gives
// the products' regions (a region too large to be one product is segmented again on its own); a region holding several products that touch (a shelf row, a tray) is cut
// where long straight edges cross it (the sides of packages), under a width-to-height prior of one
// product (min_aspect..max_aspect); each part is then answered by the catalogue like a one-product
// query, and two neighbouring parts that the catalogue recognises better as one are joined. Identical
// products side by side stay separate answers (they are counted, not merged).

#include <cstddef>
#include <string>
#include <vector>

#include "domainsearch/localizer.hpp"
#include "domainsearch/query.hpp"

namespace domainsearch {

/// How a found product is shown to the backbone.
enum class ObjectCrop {
  Cutout,  ///< its mask's pixels on white, like a studio catalogue image (the default)
  Box,     ///< its box's pixels, background included, like a shop photo
};

/// The configuration/command name of an ObjectCrop: "cutout", "box"; the inverse throws InvalidArgument.
DS_API const char* to_string(ObjectCrop crop) noexcept;
DS_API ObjectCrop object_crop_from_string(const std::string& text);

struct ObjectQueryOptions {
  QueryOptions query;            ///< how each product is searched (k, filter, answer kind, ...)
  /// With an object finder (PipelineConfig::object_finder_manifest): a product's centre needs at least
  /// this probability. 0.05 chosen on synthetic grocery scenes (tools/eval_objects.sh, scenes_dev): with
  /// the catalogue's own finder the count error per photo is 0.37 against 0.60 at 0.1 and 0.70 at 0.2,
  /// end-to-end F1 within noise (0.924, 0.920, 0.917); with a finder that never saw the items, F1 0.724
  /// against 0.714 at 0.1, count error 3.27 against 4.57.
  float min_score = 0.05f;
  /// Without one: a pixel belongs to a product when the segmenter's map (min-max normalised, 0..1) reaches this.
  float mask_threshold = 0.3f;
  /// A region whose box covers more than this fraction of the photo (a tray, a basket, a crowded shelf
  /// taken as one thing) is segmented again on its own, so the products in it stand out. 1: never.
  float resegment_above = 0.2f;
  float min_area = 0.002f;       ///< smallest product, as a fraction of the photo's area (0..1)
  int min_side = 16;             ///< smallest product side, pixels of the photo
  /// One product's width / height: a region is cut into parts whose ratio lies in this range
  /// (0.05 <= min_aspect <= max_aspect <= 20).
  float min_aspect = 0.25f, max_aspect = 2.0f;
  /// A cut needs a straight edge along at least this fraction of the region's extent (0..1).
  float edge_fraction = 0.5f;
  ObjectCrop crop = ObjectCrop::Cutout;
  float crop_margin = 0.08f;     ///< white (Cutout) or background (Box) kept around a product, fraction of its size
  /// Two neighbouring parts are joined when both answers' confidence is below this and the joined
  /// part's is higher than either (needs PipelineConfig::confidence; 0 turns joining off).
  float join_below = 0.5f;
  std::size_t max_objects = 200; ///< at most this many products are answered (the largest first)
};

/// One product found in the photo.
struct FoundObject {
  BoundingBox box;       ///< in the photo's pixels
  QueryResponse answer;  ///< its item answer, confidence and "not in the catalogue" verdict (no localization)
};

/// How many of the photo's products were answered with one item (no_match answers are not counted).
struct ItemCount {
  std::string label;
  std::string category;
  std::size_t count = 0;
};

struct ObjectTimings {
  double decode_ms = 0;  ///< query_objects_file only
  double find_ms = 0;     ///< finding the products: the object finder's pass, or the segmenter's with its regions cut
  double crop_ms = 0;     ///< cutting them out of the photo
  double embed_ms = 0;
  double search_ms = 0;  ///< the catalogue's answers (and joining neighbours, their embeddings included)
  double total_ms = 0;
};

struct ObjectsResponse {
  int width = 0, height = 0;         ///< of the photo
  std::vector<FoundObject> objects;  ///< in reading order (rows top to bottom, each left to right)
  std::vector<ItemCount> items;      ///< the matched objects' items, most frequent first (ties by label)
  /// Objects answered "not in the catalogue" (no_match), or with no result at all (a filter that lets
  /// no key through); they are not in `items`.
  std::size_t unmatched = 0;
  ObjectTimings timings;
};

}  // namespace domainsearch
