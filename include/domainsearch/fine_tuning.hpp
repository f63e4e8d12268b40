#pragma once
// Fine-tuning: the catalogue teaches the backbone to tell its look-alike items apart. The backbone's
// last stages and a linear item classifier are trained on labelled photos (the catalogue's own, or
// shop photos of its items); the catalogue is then searched with the fine-tuned network's embedding,
// and the item classifier's probabilities, summed per category and temperature-calibrated, choose the
// categories to search and score every result (PipelineConfig::match_threshold; the distance rule,
// match_distance, is the stronger "no match" signal on the grocery data).
//
// What a backbone must offer (declared by "stages": N in its manifest, TorchScript only):
//   normalize(x)             RGB 0..255 NCHW -> the network's input range
//   stages(y, start, stop)   runs stages start..stop-1 of N
//   pool_and_classify(y)     -> a tuple whose first element is the pooled features [B, D]
// with forward(x) == pool_and_classify(stages(normalize(x), 0, N)), and parameters named
// "stage<k>_..." for the parameters of stage k (others, e.g. the ImageNet classifier, stay frozen).
// ../shared/models/mobilenet_v2_1.0_224_trainable.pt is such a backbone (N = 19).
//
// Method (chosen by measurement on the grocery data, see README "Fine-tuning"): stages before
// first_stage are frozen and run once per photo and augmented view, their output cached as float16
// (in memory up to cache_memory_bytes, beyond that in an unlinked temporary file); stages
// first_stage..N-1 and a cosine item classifier (L2-normalised features times a fixed scale) are
// trained with AdamW, a one-cycle learning rate and label-smoothed cross-entropy; a stratified
// calibration_fraction of the photos is held out to fit the softmax temperature. Seeded: the same
// photos, options and thread count give the same weights.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "domainsearch/catalogue.hpp"
#include "domainsearch/category_predictor.hpp"
#include "domainsearch/export.hpp"

namespace domainsearch {

struct FineTuningOptions {
  bool enabled = false;             ///< train_categories() fine-tunes the backbone instead of training a head on frozen embeddings
  // The defaults are the recipe measured on the grocery photos (README "Fine-tuning"), the same as
  // examples/configs/grocery.json: a fine-tuning enabled in code trains as the shipped configuration does.
  int first_stage = 11;             ///< first trained stage; earlier stages stay frozen (their output is cached)
  int epochs = 4;
  int views = 3;                    ///< augmented views (rotation, zoom, mirror) per photo, besides the photo itself
  /// When fine-tuning on other photos than the catalogue's (e.g. shop photos for a catalogue of one
  /// studio image per item), the catalogue's own images are trained on too, each with `views` views
  /// and this many composites: its product (non-white pixels) pasted onto one of the training photos,
  /// so studio and shop images of an item meet in one space.
  int composites = 20;
  int batch_size = 64;
  float backbone_learning_rate = 2e-4f;    ///< peak of the one-cycle schedule
  float classifier_learning_rate = 1e-3f;  ///< peak of the one-cycle schedule
  float weight_decay = 1e-4f;
  float label_smoothing = 0.1f;
  float classifier_scale = 16.0f;          ///< logits = scale * cos(feature, class weight) + bias
  /// Weight of a supervised contrastive loss (Khosla et al. 2020) on the L2-normalised features beside
  /// the classifier's cross-entropy: rows of one item pulled together, of others pushed apart (0: off).
  /// Measured on the grocery photos (README "Fine-tuning"): weight 1 on 16 x 4 batches raised photo mAP
  /// by 0.076 and item recall@1 by 0.035 on one held-out split, at the same training time.
  float metric_loss_weight = 1.0f;
  float metric_temperature = 0.1f;         ///< of the contrastive loss's similarities
  /// Batches of P x K rows: runs of K rows of one item (photos and their views), so each batch holds
  /// about batch_size / K items with K rows each (the contrastive loss needs positives); 0 or 1: rows in
  /// random order.
  int rows_per_item = 4;
  /// Photos held out (per item, rounded) to fit the temperature; an item of a single photo (one studio
  /// image, say) lends one augmented view of it instead (with views >= 1: an optimistic stand-in, a
  /// view of a photo it trains on). 0: no calibration (temperature 1).
  float calibration_fraction = 0.1f;
  std::size_t cache_memory_bytes = std::size_t(8) << 30;  ///< trunk cache beyond this spills to a temporary file
  std::uint64_t seed = 42;
};

/// Where long training work stands. stage is "caching", "training", "calibrating" or "re-embedding";
/// done/total count photos (caching, re-embedding) or batches of the current epoch (training).
struct TrainingProgress {
  std::string stage;
  int epoch = 0;   ///< 1-based while training, 0 otherwise
  int epochs = 0;
  std::size_t done = 0, total = 0;
  float loss = 0.0f;         ///< running mean of the epoch's training loss
  double eta_seconds = -1;   ///< of the current stage; -1 when unknown
};

/// Return false to cancel: the catalogue is left as it was before training (Status::Cancelled).
using TrainingProgressFn = std::function<bool(const TrainingProgress&)>;

struct FineTuningReport {
  std::size_t photos = 0;        ///< photos trained on (after unreadable ones were skipped)
  std::size_t views = 0;         ///< cached trunk outputs (photos x (1 + views), less the calibration photos' views)
  std::size_t items = 0;         ///< item labels the classifier separates
  std::size_t skipped = 0;       ///< unreadable photos
  /// Catalogue items whose image could not be re-embedded by the fine-tuned network (file gone or
  /// unreadable since indexing): removed from the catalogue, each with why.
  std::vector<IndexingFailure> dropped;
  int epochs = 0;                ///< epochs run
  float final_loss = 0.0f;       ///< mean training loss of the last epoch
  float temperature = 1.0f;      ///< fitted softmax temperature
  float calibration_accuracy = 0.0f;  ///< item top-1 on the held-out photos and views
  double cache_seconds = 0, training_seconds = 0, reembedding_seconds = 0;
  std::size_t cache_bytes = 0;
  bool cache_spilled = false;    ///< the trunk cache lived in a temporary file
};

/// A fine-tuning report in TrainingReport's terms: samples = cached views, epochs = best_epoch = the
/// epochs run, best_validation_accuracy = item accuracy on the held-out calibration photos,
/// best_validation_loss = the last epoch's training loss, seconds = all stages.
DS_API TrainingReport training_summary(const FineTuningReport& report);

}  // namespace domainsearch
