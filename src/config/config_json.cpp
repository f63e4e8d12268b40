#include "config/config_json.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <type_traits>

#include "domainsearch/contour_mask.hpp"
#include "domainsearch/error.hpp"
#include "io/json_text.hpp"
#include "io/regular_file.hpp"

namespace domainsearch::detail {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& message) { throw Error(Status::InvalidArgument, "config: " + message); }

// ---- names of the modes

template <typename E>
E parse_name(const std::string& text, const std::string& field, std::initializer_list<std::pair<const char*, E>> names) {
  for (const auto& [name, value] : names)
    if (text == name) return value;
  std::string allowed;
  for (const auto& entry : names) allowed += std::string(allowed.empty() ? "" : ", ") + entry.first;
  refuse("\"" + field + "\" must be one of " + allowed + ", got \"" + text + "\"");
}

template <typename E>
E parse_enum(const json& j, const std::string& field, std::initializer_list<std::pair<const char*, E>> names) {
  if (!j.is_string()) refuse("\"" + field + "\" must be a string, got " + j.dump());
  return parse_name(j.get<std::string>(), field, names);
}

template <typename E>
const char* enum_name(E value, std::initializer_list<std::pair<const char*, E>> names) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "?";
}

const std::initializer_list<std::pair<const char*, ThresholdMethod>> kThreshold = {{"fixed", ThresholdMethod::Fixed}, {"otsu", ThresholdMethod::Otsu}};
const std::initializer_list<std::pair<const char*, EdgeRefinement>> kRefinement = {
    {"none", EdgeRefinement::None}, {"guided_filter", EdgeRefinement::GuidedFilter}, {"matting_model", EdgeRefinement::MattingModel}};
const std::initializer_list<std::pair<const char*, LocalizationFallback>> kFallback = {
    {"whole_image", LocalizationFallback::WholeImage}, {"bounding_box", LocalizationFallback::BoundingBox}};
const std::initializer_list<std::pair<const char*, MaskFrame>> kFrame = {{"image", MaskFrame::Image}, {"bounding_box", MaskFrame::BoundingBox}};
const std::initializer_list<std::pair<const char*, CategoryMode>> kCategory = {
    {"off", CategoryMode::Off}, {"given", CategoryMode::Given}, {"predicted_hard", CategoryMode::PredictedHard}, {"predicted_soft", CategoryMode::PredictedSoft}};
const std::initializer_list<std::pair<const char*, RerankMode>> kRerank = {{"off", RerankMode::Off}, {"iou", RerankMode::Iou}, {"fused", RerankMode::Fused}};
const std::initializer_list<std::pair<const char*, TrainingRecipe>> kRecipe = {{"paper", TrainingRecipe::Paper}, {"standardized", TrainingRecipe::Standardized}};

// ---- ranges of the numeric settings

// The allowed values of a numeric setting: integers lo..hi, or reals between lo and hi with open or
// closed ends. hi = infinity: no upper bound (the field's type holds any value a JSON integer can have).
struct Range {
  double lo, hi;
  bool integer;
  bool lo_open = false, hi_open = false;
};

constexpr double kUnbounded = std::numeric_limits<double>::infinity();
constexpr Range ints(double lo, double hi) { return {lo, hi, true}; }
constexpr Range closed(double lo, double hi) { return {lo, hi, false}; }      // [lo, hi]
constexpr Range above(double lo, double hi) { return {lo, hi, false, true}; }  // (lo, hi]
constexpr Range below(double lo, double hi) { return {lo, hi, false, false, true}; }  // [lo, hi)

std::string number_text(double x) {
  char buf[32];
  if (x == std::floor(x) && std::abs(x) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", x);
  else std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

// "in 0..1024", ">= 0", "in (0, 1]".
std::string describe(const Range& r) {
  if (r.hi == kUnbounded) return (r.lo_open ? "> " : ">= ") + number_text(r.lo);
  if (r.integer) return "in " + number_text(r.lo) + ".." + number_text(r.hi);
  return std::string("in ") + (r.lo_open ? "(" : "[") + number_text(r.lo) + ", " + number_text(r.hi) + (r.hi_open ? ")" : "]");
}

[[noreturn]] void out_of_range(const std::string& key, const Range& r, const std::string& got, bool wrong_type = false) {
  const char* kind = !wrong_type ? "" : r.integer ? "an integer " : "a number ";
  refuse("\"" + key + "\" must be " + kind + describe(r) + ", got " + got);
}

// Compared in the field's own type for reals (0.99 in a float is in [0, 0.99]); as double for integers
// (exact for every bound used here, and no bound is converted to a narrower type).
template <typename T>
bool in_range(T value, const Range& r) {
  using C = std::conditional_t<std::is_floating_point_v<T>, T, double>;
  const C x = static_cast<C>(value), lo = static_cast<C>(r.lo), hi = static_cast<C>(r.hi);
  return (r.lo_open ? x > lo : x >= lo) && (r.hi_open ? x < hi : x <= hi);
}

template <typename Training, typename Visit>
void visit_training(Training& t, const std::string& prefix, const std::string& hidden2_key, const Range& hidden2_range, Visit&& visit);

// Every numeric setting of a PipelineConfig, as visit(key, field, range, unit): key as a configuration
// file names it (a path through its objects), the field stores value * unit. The one table both the
// JSON reader and validate() use. Ranges of integer fields must lie within the field's type.

template <typename Config, typename Visit>
void visit_numbers(Config& c, Visit&& visit) {
  visit("threads", c.runtime.threads, ints(0, 1024), 1);
  visit("soft_threshold", c.soft_threshold, above(0, 1), 1);
  visit("max_categories", c.max_categories, ints(1, 1000), 1);
  visit("k", c.k, ints(1, 100000), 1);
  visit("iou_weight", c.iou_weight, closed(0, 1), 1);
  visit("rerank_depth", c.rerank_depth, ints(1, 100000), 1);
  visit("batch_size", c.batch_size, ints(1, 4096), 1);
  visit("training_views", c.training_views, ints(0, 100), 1);
  visit("match_threshold", c.match_threshold, closed(0, 1), 1);
  visit("match_distance", c.match_distance, closed(0, kUnbounded), 1);
  visit("min_confidence", c.min_confidence, closed(0, 1), 1);
  if (c.object_rules) {
    visit("objects.match_threshold", c.object_rules->match_threshold, closed(0, 1), 1);
    visit("objects.match_distance", c.object_rules->match_distance, closed(0, kUnbounded), 1);
    visit("objects.min_confidence", c.object_rules->min_confidence, closed(0, 1), 1);
  }
  visit("confidence.bias", c.confidence.bias, closed(-1e4, 1e4), 1);
  visit("confidence.probability", c.confidence.probability, closed(-1e4, 1e4), 1);
  visit("confidence.distance", c.confidence.distance, closed(-1e4, 1e4), 1);
  visit("confidence.margin", c.confidence.margin, closed(-1e4, 1e4), 1);
  visit("max_pixels", c.decode.max_pixels, ints(1, 1e9), 1);
  visit("min_side", c.decode.min_side, ints(1, 4096), 1);
  visit("max_decode_mb", c.decode.max_decode_bytes, ints(1, 1 << 20), std::uint64_t(1) << 20);  // up to 1 TiB
  visit("max_jpeg_scans", c.decode.max_jpeg_scans, ints(1, 100000), 1);

  const std::string l = "embedding.localizer.";
  visit(l + "threshold", c.localizer.threshold, closed(0, 1), 1);
  visit(l + "trimap_low", c.localizer.trimap_low, closed(0, 1), 1);
  visit(l + "trimap_high", c.localizer.trimap_high, closed(0, 1), 1);
  visit(l + "guided_radius", c.localizer.guided_radius, ints(1, 256), 1);
  visit(l + "guided_epsilon", c.localizer.guided_epsilon, above(0, 1), 1);
  visit(l + "min_confidence", c.localizer.min_confidence, closed(0, 1), 1);
  visit(l + "mask_side", c.localizer.mask_side, ints(ContourMask::kMinSide, ContourMask::kMaxSide), 1);

  visit_training(c.training, "training.", "training.hidden2", ints(0, 65536), visit);
  visit_training(c.adaptation_training, "adaptation_training.", "adapted_dimension", ints(1, 65536), visit);

  // The trainer checks first_stage against the backbone's stage count (src/training/backbone_trainer.cpp).
  auto& f = c.fine_tuning;
  visit("fine_tuning.first_stage", f.first_stage, ints(1, 1000), 1);
  visit("fine_tuning.epochs", f.epochs, ints(1, 1000), 1);
  visit("fine_tuning.views", f.views, ints(0, 100), 1);
  visit("fine_tuning.composites", f.composites, ints(0, 1000), 1);
  visit("fine_tuning.batch_size", f.batch_size, ints(2, 4096), 1);
  visit("fine_tuning.backbone_learning_rate", f.backbone_learning_rate, closed(0, 1), 1);
  visit("fine_tuning.classifier_learning_rate", f.classifier_learning_rate, closed(1e-9, 10), 1);
  visit("fine_tuning.weight_decay", f.weight_decay, closed(0, 1), 1);
  visit("fine_tuning.label_smoothing", f.label_smoothing, closed(0, 0.99), 1);
  visit("fine_tuning.classifier_scale", f.classifier_scale, closed(1e-3, 1e3), 1);
  visit("fine_tuning.metric_loss_weight", f.metric_loss_weight, closed(0, 100), 1);
  visit("fine_tuning.metric_temperature", f.metric_temperature, closed(1e-3, 10), 1);
  visit("fine_tuning.rows_per_item", f.rows_per_item, ints(0, 4096), 1);
  visit("fine_tuning.calibration_fraction", f.calibration_fraction, closed(0, 0.5), 1);
  visit("fine_tuning.cache_memory_mb", f.cache_memory_bytes, ints(0, 1 << 20), std::size_t(1) << 20);  // up to 1 TiB
  visit("fine_tuning.seed", f.seed, ints(0, kUnbounded), 1);

  // Settings a configuration file does not hold (set in code), named by their member path.
  visit("runtime.warmup_runs", c.runtime.warmup_runs, ints(0, 100), 1);
  visit("decode.max_file_bytes", c.decode.max_file_bytes, ints(1, 1ull << 40), 1);
}

// CategoryTrainingOptions: the category head's ("training.") and the adaptation's
// ("adaptation_training.", whose hidden2 a file sets as "adapted_dimension").
template <typename Training, typename Visit>
void visit_training(Training& t, const std::string& prefix, const std::string& hidden2_key, const Range& hidden2_range, Visit&& visit) {
  visit(prefix + "max_epochs", t.max_epochs, ints(1, 100000), 1);
  visit(prefix + "batch_size", t.batch_size, ints(1, 65536), 1);
  visit(prefix + "learning_rate", t.learning_rate, above(0, 10), 1);
  visit(prefix + "weight_decay", t.weight_decay, closed(0, 1), 1);
  visit(prefix + "validation_fraction", t.validation_fraction, below(0, 1), 1);
  visit(prefix + "plateau_patience", t.plateau_patience, ints(0, 100000), 1);
  visit(prefix + "plateau_factor", t.plateau_factor, above(0, 1), 1);
  visit(prefix + "early_stopping_patience", t.early_stopping_patience, ints(1, 100000), 1);
  visit(prefix + "hidden1", t.hidden1, ints(0, 65536), 1);
  visit(hidden2_key, t.hidden2, hidden2_range, 1);
  visit(prefix + "dropout", t.dropout, below(0, 1), 1);
  visit(prefix + "seed", t.seed, ints(0, kUnbounded), 1);
}

// One setting from its JSON value: integers are read exactly (as int64 or uint64) and range-checked
// before they are stored, so nothing wraps (-1 is not 2^64-1) and 2.5 is not 2; reals are checked in
// the field's type; a boolean or string is not a number.
template <typename T>
void read_number(const json& value, const std::string& key, const Range& r, std::uint64_t unit, T& field) {
  const bool typed = r.integer ? value.is_number_integer() : value.is_number();
  if (!typed) out_of_range(key, r, value.dump(), true);
  if constexpr (std::is_integral_v<T>) {
    if (value.is_number_unsigned()) {
      const auto v = value.get<std::uint64_t>();
      if (!in_range(v, r)) out_of_range(key, r, value.dump());
      field = static_cast<T>(v) * static_cast<T>(unit);
    } else {
      const auto v = value.get<std::int64_t>();
      if (!in_range(v, r)) out_of_range(key, r, value.dump());
      field = static_cast<T>(v) * static_cast<T>(unit);
    }
  } else {
    const double v = value.get<double>();
    if (!(std::abs(v) <= std::numeric_limits<T>::max()) || !in_range(static_cast<T>(v), r)) out_of_range(key, r, value.dump());
    field = static_cast<T>(v);
  }
}

// The value at a dotted path ("training.seed") inside `root`, or nullptr.
const json* find(const json& root, const std::string& path) {
  const json* at = &root;
  for (std::size_t start = 0;;) {
    const std::size_t dot = path.find('.', start);
    const std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object() || !at->contains(name)) return nullptr;
    at = &(*at)[name];
    if (dot == std::string::npos) return at;
    start = dot + 1;
  }
}

// Reads the numeric settings whose key starts with `prefix` from `root`, the object at that prefix.
void read_numbers(const json& root, const std::string& prefix, PipelineConfig& c) {
  visit_numbers(c, [&](const std::string& key, auto& field, const Range& r, std::uint64_t unit) {
    if (key.compare(0, prefix.size(), prefix) != 0) return;
    if (const json* value = find(root, key.substr(prefix.size()))) read_number(*value, key, r, unit, field);
  });
}

// ---- objects, flags and strings

void check_keys(const json& j, const std::string& where, const std::set<std::string>& allowed) {
  if (!j.is_object()) refuse(where + " must be a JSON object, got " + j.dump());
  for (const auto& item : j.items())
    if (allowed.count(item.key()) == 0) refuse("unknown key \"" + item.key() + "\" in " + where);
}

void read_flag(const json& j, const char* key, const std::string& path, bool& out) {
  if (!j.contains(key)) return;
  if (!j[key].is_boolean()) refuse("\"" + path + key + "\" must be true or false, got " + j[key].dump());
  out = j[key].get<bool>();
}

std::string read_text(const json& j, const char* key, const std::string& fallback) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_string()) refuse(std::string("\"") + key + "\" must be a string, got " + j[key].dump());
  return j[key].get<std::string>();
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

// The embedding object's keys, flags and modes (its numbers are read with the rest).
void apply_embedding_choices(const json& s, PipelineConfig& c) {
  check_keys(s, "embedding settings", {"localize", "grayscale", "l2_normalize", "localizer"});
  read_flag(s, "localize", "embedding.", c.localize);
  read_flag(s, "grayscale", "embedding.", c.features.grayscale);
  read_flag(s, "l2_normalize", "embedding.", c.features.l2_normalize);
  if (!s.contains("localizer")) return;
  const json& l = s["localizer"];
  check_keys(l, "localizer", {"threshold_method", "threshold", "keep_largest_component", "fill_holes", "refinement", "trimap_low",
                              "trimap_high", "guided_radius", "guided_epsilon", "min_confidence", "fallback", "mask_side", "mask_frame"});
  LocalizerOptions& o = c.localizer;
  if (l.contains("threshold_method")) o.threshold_method = parse_enum(l["threshold_method"], "embedding.localizer.threshold_method", kThreshold);
  read_flag(l, "keep_largest_component", "embedding.localizer.", o.keep_largest_component);
  read_flag(l, "fill_holes", "embedding.localizer.", o.fill_holes);
  if (l.contains("refinement")) o.refinement = parse_enum(l["refinement"], "embedding.localizer.refinement", kRefinement);
  if (l.contains("fallback")) o.fallback = parse_enum(l["fallback"], "embedding.localizer.fallback", kFallback);
  if (l.contains("mask_frame")) o.mask_frame = parse_enum(l["mask_frame"], "embedding.localizer.mask_frame", kFrame);
}

}  // namespace


void validate(const PipelineConfig& c) {
  visit_numbers(c, [](const std::string& key, const auto& field, const Range& r, std::uint64_t unit) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_integral_v<T>) {
      const T value = field / static_cast<T>(unit);
      if (!in_range(value, r)) out_of_range(key, r, std::to_string(value));
    } else if (!in_range(field, r)) {
      out_of_range(key, r, number_text(field));
    }
  });
  if (!(c.localizer.trimap_low < c.localizer.trimap_high))
    refuse("\"embedding.localizer.trimap_low\" (" + number_text(c.localizer.trimap_low) + ") must be below \"embedding.localizer.trimap_high\" (" +
           number_text(c.localizer.trimap_high) + ")");
  const auto layers = [](const CategoryTrainingOptions& t, const std::string& hidden1, const std::string& hidden2) {
    if ((t.hidden1 == 0) != (t.hidden2 == 0))
      refuse("\"" + hidden1 + "\" and \"" + hidden2 + "\" must both be 0 (a linear head) or both at least 1, got " + std::to_string(t.hidden1) +
             " and " + std::to_string(t.hidden2));
  };
  layers(c.training, "training.hidden1", "training.hidden2");
  layers(c.adaptation_training, "adaptation_training.hidden1", "adapted_dimension");
  for (const auto& [key, value] : {std::pair{"min_confidence", c.min_confidence}, std::pair{"objects.min_confidence", c.product_rules().min_confidence}})
    if (value > 0 && c.confidence.empty())
      refuse("\"" + std::string(key) + "\" (" + number_text(value) + ") needs a \"confidence\" model (fitted by domainsearch eval --holdout-items)");
}

json embedding_settings(const PipelineConfig& c) {
  const LocalizerOptions& l = c.localizer;
  return {{"localize", c.localize},
          {"grayscale", c.features.grayscale},
          {"l2_normalize", c.features.l2_normalize},
          {"localizer",
           {{"threshold_method", enum_name(l.threshold_method, kThreshold)}, {"threshold", l.threshold},
            {"keep_largest_component", l.keep_largest_component}, {"fill_holes", l.fill_holes},
            {"refinement", enum_name(l.refinement, kRefinement)}, {"trimap_low", l.trimap_low}, {"trimap_high", l.trimap_high},
            {"guided_radius", l.guided_radius}, {"guided_epsilon", l.guided_epsilon}, {"min_confidence", l.min_confidence},
            {"fallback", enum_name(l.fallback, kFallback)}, {"mask_side", l.mask_side}, {"mask_frame", enum_name(l.mask_frame, kFrame)}}}};
}

void apply_embedding_settings(const json& s, PipelineConfig& c) {
  apply_embedding_choices(s, c);
  read_numbers(s, "embedding.", c);
}

PipelineConfig config_from_json(const json& j, const std::string& base_dir) {
  PipelineConfig c;
  check_keys(j, "the configuration", {"backbone", "segmenter", "object_finder", "device", "threads", "embedding", "category_mode", "soft_threshold",
                                      "max_categories", "k", "rerank", "iou_weight", "rerank_depth", "batch_size", "training",
                                      "max_pixels", "min_side", "max_decode_mb", "max_jpeg_scans", "training_views", "adapt_embedding", "adapted_dimension", "one_result_per_label",
                                      "match_threshold", "match_distance", "confidence", "min_confidence", "objects", "fine_tuning"});
  if (j.contains("confidence")) check_keys(j["confidence"], "confidence", {"bias", "probability", "distance", "margin"});
  if (j.contains("objects")) check_keys(j["objects"], "objects", {"match_threshold", "match_distance", "min_confidence"});
  c.backbone_manifest = resolve(read_text(j, "backbone", ""), base_dir);
  c.segmenter_manifest = resolve(read_text(j, "segmenter", ""), base_dir);
  c.object_finder_manifest = resolve(read_text(j, "object_finder", ""), base_dir);
  c.runtime.device = read_text(j, "device", c.runtime.device);
  if (j.contains("embedding")) apply_embedding_choices(j["embedding"], c);
  if (j.contains("category_mode")) c.category_mode = parse_enum(j["category_mode"], "category_mode", kCategory);
  if (j.contains("rerank")) c.rerank = parse_enum(j["rerank"], "rerank", kRerank);
  read_flag(j, "adapt_embedding", "", c.adapt_embedding);
  read_flag(j, "one_result_per_label", "", c.one_result_per_label);
  if (j.contains("training")) {
    const json& t = j["training"];
    check_keys(t, "training", {"recipe", "max_epochs", "batch_size", "learning_rate", "weight_decay", "validation_fraction", "seed", "hidden1",
                               "hidden2", "dropout"});
    if (t.contains("recipe")) c.training.recipe = parse_enum(t["recipe"], "training.recipe", kRecipe);
  }
  if (j.contains("fine_tuning")) {
    const json& f = j["fine_tuning"];
    check_keys(f, "fine_tuning", {"enabled", "first_stage", "epochs", "views", "composites", "batch_size", "backbone_learning_rate", "classifier_learning_rate",
                                  "weight_decay", "label_smoothing", "classifier_scale", "metric_loss_weight", "metric_temperature", "rows_per_item",
                                  "calibration_fraction", "cache_memory_mb", "seed"});
    read_flag(f, "enabled", "fine_tuning.", c.fine_tuning.enabled);
  }
  read_numbers(j, "", c);
  if (j.contains("objects")) {  // the products' rules: those it leaves out are the photo rules
    c.object_rules = c.photo_rules();
    read_numbers(j["objects"], "objects.", c);
  }
  validate(c);
  return c;
}

}  // namespace domainsearch::detail

namespace domainsearch {

const char* to_string(CategoryMode mode) noexcept { return detail::enum_name(mode, detail::kCategory); }
const char* to_string(RerankMode mode) noexcept { return detail::enum_name(mode, detail::kRerank); }
CategoryMode category_mode_from_string(const std::string& text) { return detail::parse_name(text, "category_mode", detail::kCategory); }
RerankMode rerank_mode_from_string(const std::string& text) { return detail::parse_name(text, "rerank", detail::kRerank); }

PipelineConfig PipelineConfig::load(const std::string& path) {
  // A regular file only (a FIFO or a device is refused at once: Io), of at most kMaxTextFileBytes.
  const std::string text = detail::read_text_file(path, detail::kMaxTextFileBytes, "configuration file");
  // Not JSON, nested too deeply or with a key twice: InvalidArgument naming the file.
  const nlohmann::json j = detail::parse_json(text, path, Status::InvalidArgument);
  try {
    return detail::config_from_json(j, std::filesystem::path(path).parent_path().string());
  } catch (const nlohmann::json::exception& e) {
    throw Error(Status::InvalidArgument, path + ": " + e.what());
  } catch (const Error& e) {
    throw Error(e.status(), path + ": " + e.what());
  }
}

}  // namespace domainsearch
