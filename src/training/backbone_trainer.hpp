#pragma once
// Internal: fine-tunes a backbone's last stages and a cosine item classifier on labelled photos
// (the method is described in include/domainsearch/fine_tuning.hpp). LibTorch stays inside the .cpp.
#include <vector>

#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/image.hpp"
#include "domainsearch/model.hpp"
#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/pipeline_config.hpp"
#include "training/fine_tuned_model.hpp"

namespace domainsearch::detail {

/// What to train on and with.
struct FineTuningJob {
  const ModelManifest* backbone = nullptr;  ///< needs "stages" (a fine-tunable TorchScript backbone)
  RuntimeOptions runtime;
  FineTuningOptions options;
  DecodeLimits limits;
  bool grayscale = false;                   ///< the embedding setting the photos are fed with
  std::vector<CatalogueEntry> photos;       ///< path, label (the item: the class trained), category
  /// Studio images of items (object on white, e.g. an iconic catalogue's own images), trained on too,
  /// each with options.views augmented views and options.composites pastes of its product onto
  /// backgrounds drawn from `photos`; never held out for calibration.
  std::vector<CatalogueEntry> studio;
};

/// Trains and returns the model. Unreadable photos are skipped (counted in report.skipped).
/// Throws InvalidArgument (backbone not fine-tunable, options out of range, fewer than 2 item labels
/// among the readable photos), Cancelled (progress returned false), model loading errors.
FineTunedModel fine_tune_backbone(const FineTuningJob& job, const TrainingProgressFn& progress, FineTuningReport& report);

}  // namespace domainsearch::detail
