// Training of the category head with LibTorch (one of the two library translation units that include it).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "category/head_weights.hpp"
#include "domainsearch/error.hpp"

namespace domainsearch {
namespace {

struct Split {
  std::vector<std::size_t> train, validation;
};

// Stratified: about `fraction` of each category's items (none of a category with a single item).
Split stratified_split(const std::int32_t* labels, std::size_t count, float fraction, std::mt19937_64& rng) {
  std::map<std::int32_t, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < count; ++i) by_label[labels[i]].push_back(i);
  Split split;
  for (auto& [label, items] : by_label) {
    std::shuffle(items.begin(), items.end(), rng);
    const std::size_t held = items.size() < 2 ? 0 : static_cast<std::size_t>(std::lround(fraction * static_cast<float>(items.size())));
    split.validation.insert(split.validation.end(), items.begin(), items.begin() + static_cast<std::ptrdiff_t>(held));
    split.train.insert(split.train.end(), items.begin() + static_cast<std::ptrdiff_t>(held), items.end());
  }
  return split;
}

torch::Tensor gather_rows(const float* x, int d, const std::vector<std::size_t>& rows, const std::vector<float>& mean,
                          const std::vector<float>& inv_std) {
  torch::Tensor t = torch::empty({static_cast<std::int64_t>(rows.size()), d});
  float* out = t.data_ptr<float>();
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (int j = 0; j < d; ++j) out[r * d + j] = (x[rows[r] * d + j] - mean[j]) * inv_std[j];
  return t;
}

torch::Tensor gather_labels(const std::int32_t* labels, const std::vector<std::size_t>& rows) {
  torch::Tensor t = torch::empty({static_cast<std::int64_t>(rows.size())}, torch::kLong);
  for (std::size_t r = 0; r < rows.size(); ++r) t[static_cast<std::int64_t>(r)] = labels[rows[r]];
  return t;
}

void standardisation(const float* x, int d, const std::vector<std::size_t>& rows, std::vector<float>& mean, std::vector<float>& inv_std) {
  std::vector<double> sum(d, 0.0), sq(d, 0.0);
  for (std::size_t r : rows)
    for (int j = 0; j < d; ++j) {
      sum[j] += x[r * d + j];
      sq[j] += double(x[r * d + j]) * x[r * d + j];
    }
  const double n = static_cast<double>(rows.size());
  for (int j = 0; j < d; ++j) {
    const double m = sum[j] / n, var = std::max(sq[j] / n - m * m, 0.0);
    mean[j] = static_cast<float>(m);
    inv_std[j] = static_cast<float>(1.0 / std::sqrt(var + 1e-6));
  }
}

std::vector<float> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

void validate(const float* x, std::size_t count, int d, const std::int32_t* labels, int categories, const CategoryTrainingOptions& o) {
  if (x == nullptr || labels == nullptr) throw Error(Status::InvalidArgument, "category training: null embeddings or labels");
  if (count < 2 || d < 1 || categories < 2)
    throw Error(Status::InvalidArgument, "category training needs at least 2 items, 2 categories and dimension >= 1 (got " +
                                             std::to_string(count) + " items, " + std::to_string(categories) + " categories)");
  const bool hidden_ok = (o.hidden1 >= 1 && o.hidden2 >= 1) || (o.hidden1 == 0 && o.hidden2 == 0);
  if (o.batch_size < 1 || o.max_epochs < 1 || !hidden_ok || !(o.learning_rate > 0) ||
      o.validation_fraction < 0 || o.validation_fraction >= 1 || o.dropout < 0 || o.dropout >= 1)
    throw Error(Status::InvalidArgument, "category training: options out of range");
  for (std::size_t i = 0; i < count; ++i)
    if (labels[i] < 0 || labels[i] >= categories)
      throw Error(Status::InvalidArgument, "category training: label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                                               " is outside [0, " + std::to_string(categories) + ")");
  for (std::size_t i = 0; i < count * static_cast<std::size_t>(d); ++i)
    if (!std::isfinite(x[i])) throw Error(Status::InvalidArgument, "category training: non-finite value in embedding " + std::to_string(i / d));
}

// One training run of the head (paper 4.2): the network on standardised (or raw) embeddings, its
// optimiser, and the early-stopping and learning-rate-plateau state. Keeps the parameters of the epoch
// with the lowest validation loss.
class HeadTraining {
 public:
  HeadTraining(const float* x, std::size_t count, int d, const std::int32_t* labels, int categories, const CategoryTrainingOptions& o)
      : o_(o), rng_(o.seed), linear_(o.hidden2 == 0) {
    torch::manual_seed(o.seed);  // before the layers are initialised
    const Split split = stratified_split(labels, count, o.validation_fraction, rng_);
    w_.dimension = d, w_.categories = categories, w_.hidden1 = o.hidden1, w_.hidden2 = o.hidden2;
    w_.mean.assign(d, 0.0f);
    w_.inv_std.assign(d, 1.0f);
    if (o.recipe == TrainingRecipe::Standardized) standardisation(x, d, split.train, w_.mean, w_.inv_std);
    train_x_ = gather_rows(x, d, split.train, w_.mean, w_.inv_std);
    train_y_ = gather_labels(labels, split.train);
    const bool has_validation = !split.validation.empty();
    val_x_ = has_validation ? gather_rows(x, d, split.validation, w_.mean, w_.inv_std) : train_x_;
    val_y_ = has_validation ? gather_labels(labels, split.validation) : train_y_;
    fc1_ = torch::nn::Linear(std::max(d, 1), std::max(o.hidden1, 1));
    fc2_ = torch::nn::Linear(std::max(o.hidden1, 1), std::max(o.hidden2, 1));
    fc3_ = torch::nn::Linear(linear_ ? d : o.hidden2, categories);
    net_ = linear_ ? torch::nn::Sequential(torch::nn::Dropout(o.dropout), fc3_)
                   : torch::nn::Sequential(fc1_, torch::nn::ReLU(), torch::nn::Dropout(o.dropout), fc2_, torch::nn::ReLU(), fc3_);
    if (o.recipe == TrainingRecipe::Paper)
      optimizer_ = std::make_unique<torch::optim::SGD>(net_->parameters(), torch::optim::SGDOptions(o.learning_rate).momentum(0.9).nesterov(true));
    else
      optimizer_ = std::make_unique<torch::optim::AdamW>(net_->parameters(), torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));
    order_.resize(split.train.size());
    std::iota(order_.begin(), order_.end(), 0);
  }

  // Trains until max_epochs or early stopping; the weights of the best epoch. Cancelled when on_epoch
  // says so; InvalidArgument when no epoch had a finite validation loss.
  detail::HeadWeights run(TrainingReport* report) {
    int epoch = 1;
    for (; epoch <= o_.max_epochs; ++epoch) {
      const EpochReport e = evaluate(epoch, train_epoch());
      if (!keep_if_best(e)) break;
      adjust_learning_rate(e.validation_loss);
      if (o_.on_epoch && !o_.on_epoch(e)) throw Error(Status::Cancelled, "category training cancelled at epoch " + std::to_string(epoch));
    }
    epochs_ = std::min(epoch, o_.max_epochs);
    if (best_state_.empty())  // nothing worth keeping
      throw Error(Status::InvalidArgument, "category training diverged: the validation loss was never finite in " + std::to_string(epochs_) +
                                               " epochs (learning_rate " + std::to_string(o_.learning_rate) + " too high?)");
    if (report != nullptr) {
      report->epochs = epochs_;
      report->best_epoch = best_epoch_;
      report->best_validation_accuracy = best_accuracy_;
      report->best_validation_loss = best_loss_;
    }
    return best_weights();
  }

 private:
  // One pass over the training rows in shuffled mini-batches; the mean loss.
  float train_epoch() {
    net_->train();
    std::shuffle(order_.begin(), order_.end(), rng_);
    const auto n = static_cast<std::int64_t>(order_.size());
    const torch::Tensor perm = torch::from_blob(order_.data(), {n}, torch::kLong);
    double loss_sum = 0;
    for (std::int64_t first = 0; first < n; first += o_.batch_size) {
      const torch::Tensor idx = perm.slice(0, first, std::min<std::int64_t>(first + o_.batch_size, n));
      optimizer_->zero_grad();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(net_->forward(train_x_.index_select(0, idx)), train_y_.index_select(0, idx));
      loss.backward();
      optimizer_->step();
      loss_sum += loss.item<double>() * static_cast<double>(idx.size(0));
    }
    return static_cast<float>(loss_sum / static_cast<double>(n));
  }

  EpochReport evaluate(int epoch, float train_loss) {
    EpochReport e;
    e.epoch = epoch;
    e.train_loss = train_loss;
    torch::NoGradGuard no_grad;
    net_->eval();
    const torch::Tensor logits = net_->forward(val_x_);
    e.validation_loss = torch::nn::functional::cross_entropy(logits, val_y_).item<float>();
    e.validation_accuracy = logits.argmax(1).eq(val_y_).to(torch::kFloat).mean().item<float>();
    e.learning_rate = static_cast<float>(lr_);
    return e;
  }

  // Remembers the parameters of an epoch better than every earlier one; false once early stopping's
  // patience has run out.
  bool keep_if_best(const EpochReport& e) {
    if (e.validation_loss < best_loss_) {
      best_loss_ = e.validation_loss, best_accuracy_ = e.validation_accuracy, best_epoch_ = e.epoch, since_best_ = 0;
      best_state_.clear();
      for (const auto& p : net_->parameters()) best_state_.push_back(p.detach().clone());
      return true;
    }
    return ++since_best_ < o_.early_stopping_patience;
  }

  void adjust_learning_rate(float validation_loss) {
    if (validation_loss < plateau_best_ - 1e-4f) {
      plateau_best_ = validation_loss, since_plateau_best_ = 0;
    } else if (++since_plateau_best_ > o_.plateau_patience) {
      lr_ *= o_.plateau_factor, since_plateau_best_ = 0;
      for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr_);
    }
  }

  detail::HeadWeights best_weights() {
    torch::NoGradGuard no_grad;
    const auto params = net_->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_state_[i]);
    if (!linear_) {
      w_.w1 = to_vector(fc1_->weight), w_.b1 = to_vector(fc1_->bias);
      w_.w2 = to_vector(fc2_->weight), w_.b2 = to_vector(fc2_->bias);
    }
    w_.w3 = to_vector(fc3_->weight), w_.b3 = to_vector(fc3_->bias);
    return std::move(w_);
  }

  const CategoryTrainingOptions& o_;
  std::mt19937_64 rng_;
  const bool linear_;
  detail::HeadWeights w_;
  torch::Tensor train_x_, train_y_, val_x_, val_y_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
  torch::nn::Sequential net_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<std::int64_t> order_;
  double lr_ = o_.learning_rate;
  float best_loss_ = INFINITY, plateau_best_ = INFINITY, best_accuracy_ = 0.0f;
  int best_epoch_ = 0, since_best_ = 0, since_plateau_best_ = 0, epochs_ = 0;
  std::vector<torch::Tensor> best_state_;
};

}  // namespace

CategoryPredictor CategoryPredictor::train(const float* x, std::size_t count, int d, const std::int32_t* labels, int categories,
                                           const CategoryTrainingOptions& o, TrainingReport* report) {
  validate(x, count, d, labels, categories, o);
  const auto start = std::chrono::steady_clock::now();
  detail::HeadWeights w = HeadTraining(x, count, d, labels, categories, o).run(report);
  if (report != nullptr) {
    report->samples = count;
    report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return CategoryPredictor(std::move(w));
}

}  // namespace domainsearch
