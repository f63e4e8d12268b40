#include "pipeline/config_json.hpp"

#include <filesystem>
#include <fstream>
#include <set>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

using nlohmann::json;

template <typename E>
E parse_enum(const json& j, const char* field, std::initializer_list<std::pair<const char*, E>> names) {
  const std::string v = j.get<std::string>();
  for (const auto& [name, value] : names)
    if (v == name) return value;
  std::string allowed;
  for (const auto& entry : names) allowed += std::string(allowed.empty() ? "" : ", ") + entry.first;
  throw Error(Status::InvalidArgument, std::string("config: ") + field + " must be one of " + allowed + ", got \"" + v + "\"");
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

void check_keys(const json& j, const char* where, const std::set<std::string>& allowed) {
  for (const auto& item : j.items())
    if (allowed.count(item.key()) == 0) throw Error(Status::InvalidArgument, std::string("config: unknown key \"") + item.key() + "\" in " + where);
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

void apply_fine_tuning(const json& f, FineTuningOptions& o) {
  check_keys(f, "fine_tuning", {"enabled", "first_stage", "epochs", "views", "batch_size", "backbone_learning_rate", "classifier_learning_rate",
                                "weight_decay", "label_smoothing", "classifier_scale", "calibration_fraction", "cache_memory_mb", "seed"});
  o.enabled = f.value("enabled", o.enabled);
  o.first_stage = f.value("first_stage", o.first_stage);
  o.epochs = f.value("epochs", o.epochs);
  o.views = f.value("views", o.views);
  o.batch_size = f.value("batch_size", o.batch_size);
  o.backbone_learning_rate = f.value("backbone_learning_rate", o.backbone_learning_rate);
  o.classifier_learning_rate = f.value("classifier_learning_rate", o.classifier_learning_rate);
  o.weight_decay = f.value("weight_decay", o.weight_decay);
  o.label_smoothing = f.value("label_smoothing", o.label_smoothing);
  o.classifier_scale = f.value("classifier_scale", o.classifier_scale);
  o.calibration_fraction = f.value("calibration_fraction", o.calibration_fraction);
  o.cache_memory_bytes = f.value("cache_memory_mb", o.cache_memory_bytes >> 20) << 20;
  o.seed = f.value("seed", o.seed);
}

}  // namespace

const char* category_mode_name(CategoryMode mode) { return enum_name(mode, kCategory); }
const char* rerank_mode_name(RerankMode mode) { return enum_name(mode, kRerank); }

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
  try {
    check_keys(s, "embedding settings", {"localize", "grayscale", "l2_normalize", "localizer"});
    if (s.contains("localize")) c.localize = s["localize"].get<bool>();
    if (s.contains("grayscale")) c.features.grayscale = s["grayscale"].get<bool>();
    if (s.contains("l2_normalize")) c.features.l2_normalize = s["l2_normalize"].get<bool>();
    if (!s.contains("localizer")) return;
    const json& l = s["localizer"];
    check_keys(l, "localizer", {"threshold_method", "threshold", "keep_largest_component", "fill_holes", "refinement", "trimap_low",
                                "trimap_high", "guided_radius", "guided_epsilon", "min_confidence", "fallback", "mask_side", "mask_frame"});
    LocalizerOptions& o = c.localizer;
    if (l.contains("threshold_method")) o.threshold_method = parse_enum(l["threshold_method"], "localizer.threshold_method", kThreshold);
    o.threshold = l.value("threshold", o.threshold);
    o.keep_largest_component = l.value("keep_largest_component", o.keep_largest_component);
    o.fill_holes = l.value("fill_holes", o.fill_holes);
    if (l.contains("refinement")) o.refinement = parse_enum(l["refinement"], "localizer.refinement", kRefinement);
    o.trimap_low = l.value("trimap_low", o.trimap_low);
    o.trimap_high = l.value("trimap_high", o.trimap_high);
    o.guided_radius = l.value("guided_radius", o.guided_radius);
    o.guided_epsilon = l.value("guided_epsilon", o.guided_epsilon);
    o.min_confidence = l.value("min_confidence", o.min_confidence);
    if (l.contains("fallback")) o.fallback = parse_enum(l["fallback"], "localizer.fallback", kFallback);
    o.mask_side = l.value("mask_side", o.mask_side);
    if (l.contains("mask_frame")) o.mask_frame = parse_enum(l["mask_frame"], "localizer.mask_frame", kFrame);
  } catch (const json::exception& e) {
    throw Error(Status::InvalidArgument, std::string("config: ") + e.what());
  }
}

PipelineConfig config_from_json(const json& j, const std::string& base_dir) {
  PipelineConfig c;
  try {
    check_keys(j, "the configuration", {"backbone", "segmenter", "device", "threads", "embedding", "category_mode", "soft_threshold",
                                        "max_categories", "k", "rerank", "iou_weight", "rerank_depth", "batch_size", "training",
                                        "max_pixels", "min_side", "training_views", "adapt_embedding", "adapted_dimension", "one_result_per_label",
                                        "fine_tuning"});
    c.backbone_manifest = resolve(j.value("backbone", ""), base_dir);
    c.segmenter_manifest = resolve(j.value("segmenter", ""), base_dir);
    c.runtime.device = j.value("device", c.runtime.device);
    c.runtime.threads = j.value("threads", c.runtime.threads);
    if (j.contains("embedding")) apply_embedding_settings(j["embedding"], c);
    if (j.contains("category_mode")) c.category_mode = parse_enum(j["category_mode"], "category_mode", kCategory);
    c.soft_threshold = j.value("soft_threshold", c.soft_threshold);
    c.max_categories = j.value("max_categories", c.max_categories);
    c.k = j.value("k", c.k);
    if (j.contains("rerank")) c.rerank = parse_enum(j["rerank"], "rerank", kRerank);
    c.iou_weight = j.value("iou_weight", c.iou_weight);
    c.rerank_depth = j.value("rerank_depth", c.rerank_depth);
    c.batch_size = j.value("batch_size", c.batch_size);
    c.training_views = j.value("training_views", c.training_views);
    c.adapt_embedding = j.value("adapt_embedding", c.adapt_embedding);
    c.one_result_per_label = j.value("one_result_per_label", c.one_result_per_label);
    c.adaptation_training.hidden2 = j.value("adapted_dimension", c.adaptation_training.hidden2);
    c.decode.max_pixels = j.value("max_pixels", c.decode.max_pixels);
    c.decode.min_side = j.value("min_side", c.decode.min_side);
    if (j.contains("training")) {
      const json& t = j["training"];
      check_keys(t, "training", {"recipe", "max_epochs", "batch_size", "learning_rate", "weight_decay", "validation_fraction", "seed", "hidden1",
                                 "hidden2", "dropout"});
      if (t.contains("recipe")) c.training.recipe = parse_enum(t["recipe"], "training.recipe", kRecipe);
      c.training.max_epochs = t.value("max_epochs", c.training.max_epochs);
      c.training.batch_size = t.value("batch_size", c.training.batch_size);
      c.training.learning_rate = t.value("learning_rate", c.training.learning_rate);
      c.training.weight_decay = t.value("weight_decay", c.training.weight_decay);
      c.training.validation_fraction = t.value("validation_fraction", c.training.validation_fraction);
      c.training.seed = t.value("seed", c.training.seed);
      c.training.hidden1 = t.value("hidden1", c.training.hidden1);
      c.training.hidden2 = t.value("hidden2", c.training.hidden2);
      c.training.dropout = t.value("dropout", c.training.dropout);
    }
    if (j.contains("fine_tuning")) apply_fine_tuning(j["fine_tuning"], c.fine_tuning);
  } catch (const json::exception& e) {
    throw Error(Status::InvalidArgument, std::string("config: ") + e.what());
  }
  return c;
}

}  // namespace domainsearch::detail

namespace domainsearch {

PipelineConfig PipelineConfig::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(Status::Io, path + ": cannot open configuration file");
  try {
    return detail::config_from_json(nlohmann::json::parse(f), std::filesystem::path(path).parent_path().string());
  } catch (const nlohmann::json::exception& e) {
    throw Error(Status::InvalidArgument, path + ": " + e.what());
  } catch (const Error& e) {
    throw Error(e.status(), path + ": " + e.what());
  }
}

}  // namespace domainsearch
