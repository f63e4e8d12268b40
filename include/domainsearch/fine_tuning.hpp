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

namespace domainsearch {

struct FineTuningOptions {
  bool enabled = false;             ///< train_categories() fine-tunes the backbone instead of training a head on frozen embeddings
  int first_stage = 14;             ///< first trained stage; earlier stages stay frozen (their output is cached)
  int epochs = 6;
  int views = 2;                    ///< augmented views (rotation, zoom, mirror) per photo, besides the photo itself
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
  float calibration_fraction = 0.1f;       ///< photos held out (per item) to fit the temperature
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
  int epochs = 0;                ///< epochs run
  float final_loss = 0.0f;       ///< mean training loss of the last epoch
  float temperature = 1.0f;      ///< fitted softmax temperature
  float calibration_accuracy = 0.0f;  ///< item top-1 on the held-out photos
  double cache_seconds = 0, training_seconds = 0, reembedding_seconds = 0;
  std::size_t cache_bytes = 0;
  bool cache_spilled = false;    ///< the trunk cache lived in a temporary file
};

}  // namespace domainsearch
