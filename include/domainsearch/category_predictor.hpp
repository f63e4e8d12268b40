#pragma once
// CategoryPredictor: predicts an item's category from its embedding (paper 4.2), with the paper's
// head: Dense(1024)-ReLU-Dropout(0.5)-Dense(512)-ReLU-Dense(categories)-softmax, trained in C++ with
// LibTorch on the catalogue's own embeddings. Sharing the FeatureExtractor's embedding means one
// backbone pass serves both search and categorisation (the paper runs two networks).
//
// Two training recipes, chosen by measurement (see the evaluation issue):
//  - Paper: raw features, SGD lr 1e-3 momentum 0.9 Nesterov, ReduceLROnPlateau(patience 5, x0.5),
//    early stopping (patience 10) on a held-out split.
//  - Standardized (default): per-feature standardisation, AdamW lr 1e-3 weight decay 1e-4, the same
//    plateau schedule and early stopping. Both restore the best validation epoch's weights.
// Training is seeded and reproducible on one thread count. Augmented views (rotation, flip, zoom)
// are produced by the caller (Pipeline) as extra embeddings with the same label.
//
// Thread-safety: a trained predictor is immutable; predict() may run from many threads at once.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "domainsearch/export.hpp"

namespace domainsearch {

namespace detail {
struct HeadWeights;
}

struct CategoryScore {
  std::int32_t category = -1;
  float probability = 0.0f;
};

enum class TrainingRecipe { Paper, Standardized };

struct EpochReport {
  int epoch = 0;
  float train_loss = 0.0f;
  float validation_loss = 0.0f;
  float validation_accuracy = 0.0f;
  float learning_rate = 0.0f;
};

struct CategoryTrainingOptions {
  TrainingRecipe recipe = TrainingRecipe::Standardized;
  int max_epochs = 300;
  int batch_size = 64;
  float learning_rate = 1e-3f;
  float weight_decay = 1e-4f;        ///< Standardized recipe only
  float validation_fraction = 0.1f;  ///< stratified hold-out for the schedule and early stopping
  int plateau_patience = 5;
  float plateau_factor = 0.5f;
  int early_stopping_patience = 10;
  int hidden1 = 1024;  ///< hidden1 = hidden2 = 0: a linear head (softmax regression on the standardised input)
  int hidden2 = 512;
  float dropout = 0.5f;
  std::uint64_t seed = 42;
  /// Called after every epoch; returning false cancels training (Status::Cancelled).
  std::function<bool(const EpochReport&)> on_epoch;
};

struct TrainingReport {
  std::size_t samples = 0;            ///< embeddings trained on (training + validation split)
  int epochs = 0;                     ///< epochs run
  int best_epoch = 0;                 ///< epoch whose weights were kept
  float best_validation_accuracy = 0.0f;
  float best_validation_loss = 0.0f;
  double seconds = 0.0;
  /// Fine-tuning only: catalogue items whose image could no longer be read, dropped when the fine-tuned
  /// network re-embedded the catalogue (FineTuningReport::dropped names them).
  std::size_t dropped = 0;
};

class DS_API CategoryPredictor {
 public:
  /// Trains on `count` embeddings (row-major count x dimension) with labels in [0, category_count).
  /// Throws InvalidArgument on bad shapes, labels or non-finite values; Cancelled if on_epoch says so.
  static CategoryPredictor train(const float* embeddings, std::size_t count, int dimension, const std::int32_t* labels,
                                 int category_count, const CategoryTrainingOptions& options = {},
                                 TrainingReport* report = nullptr);

  ~CategoryPredictor();
  CategoryPredictor(CategoryPredictor&&) noexcept;
  CategoryPredictor& operator=(CategoryPredictor&&) noexcept;
  CategoryPredictor(const CategoryPredictor&);

  int dimension() const noexcept;
  int category_count() const noexcept;
  /// Softmax probabilities over all categories for one embedding of dimension() floats.
  std::vector<float> probabilities(const float* embedding) const;
  /// The last hidden layer's activations (options.hidden2 floats, ReLU) for one embedding: the
  /// representation the classifier separates its classes in. Trained on item labels, it is the
  /// Pipeline's catalogue-adapted embedding.
  std::vector<float> penultimate(const float* embedding) const;
  int penultimate_dimension() const noexcept;
  /// The top_k categories, most probable first.
  std::vector<CategoryScore> predict(const float* embedding, std::size_t top_k = 1) const;

  /// A portable byte encoding (stored inside catalogue files).
  std::vector<std::uint8_t> serialize() const;
  /// Inverse of serialize(); throws Corrupt on a malformed buffer.
  static CategoryPredictor deserialize(const std::uint8_t* data, std::size_t size);

  /// A linear classifier over `dimension`-d embeddings: probabilities softmax(W x + b), W row-major
  /// `categories` x `dimension`, b `categories` floats (a classifier trained elsewhere; the fine-tuned
  /// network's item classifier is one). Its penultimate() is the embedding itself. Throws
  /// InvalidArgument for a wrong size, fewer than 2 categories or a non-finite value.
  static CategoryPredictor linear(int dimension, int categories, std::vector<float> weights, std::vector<float> bias);

 private:
  explicit CategoryPredictor(detail::HeadWeights weights);
  std::unique_ptr<detail::HeadWeights> weights_;  // src/category/head_weights.hpp
};

}  // namespace domainsearch
