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

}  // namespace

CategoryPredictor CategoryPredictor::train(const float* x, std::size_t count, int d, const std::int32_t* labels, int categories,
                                           const CategoryTrainingOptions& o, TrainingReport* report) {
  validate(x, count, d, labels, categories, o);
  const auto start = std::chrono::steady_clock::now();
  torch::manual_seed(o.seed);
  std::mt19937_64 rng(o.seed);
  const Split split = stratified_split(labels, count, o.validation_fraction, rng);
  const bool has_validation = !split.validation.empty();

  Weights w;
  w.dimension = d, w.categories = categories, w.hidden1 = o.hidden1, w.hidden2 = o.hidden2;
  w.mean.assign(d, 0.0f);
  w.inv_std.assign(d, 1.0f);
  if (o.recipe == TrainingRecipe::Standardized) standardisation(x, d, split.train, w.mean, w.inv_std);

  const torch::Tensor train_x = gather_rows(x, d, split.train, w.mean, w.inv_std);
  const torch::Tensor train_y = gather_labels(labels, split.train);
  const torch::Tensor val_x = has_validation ? gather_rows(x, d, split.validation, w.mean, w.inv_std) : train_x;
  const torch::Tensor val_y = has_validation ? gather_labels(labels, split.validation) : train_y;

  const bool linear = o.hidden2 == 0;
  torch::nn::Linear fc1(std::max(d, 1), std::max(o.hidden1, 1)), fc2(std::max(o.hidden1, 1), std::max(o.hidden2, 1)),
      fc3(linear ? d : o.hidden2, categories);
  torch::nn::Sequential net = linear ? torch::nn::Sequential(torch::nn::Dropout(o.dropout), fc3)
                                     : torch::nn::Sequential(fc1, torch::nn::ReLU(), torch::nn::Dropout(o.dropout), fc2, torch::nn::ReLU(), fc3);
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (o.recipe == TrainingRecipe::Paper)
    optimizer = std::make_unique<torch::optim::SGD>(net->parameters(), torch::optim::SGDOptions(o.learning_rate).momentum(0.9).nesterov(true));
  else
    optimizer = std::make_unique<torch::optim::AdamW>(net->parameters(), torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));

  double lr = o.learning_rate;
  float best_loss = INFINITY, plateau_best = INFINITY, best_accuracy = 0.0f;
  int best_epoch = 0, since_best = 0, since_plateau_best = 0, epoch = 0;
  std::vector<torch::Tensor> best_state;
  std::vector<std::int64_t> order(split.train.size());
  std::iota(order.begin(), order.end(), 0);
  for (epoch = 1; epoch <= o.max_epochs; ++epoch) {
    net->train();
    std::shuffle(order.begin(), order.end(), rng);
    const torch::Tensor perm = torch::from_blob(order.data(), {static_cast<std::int64_t>(order.size())}, torch::kLong);
    double loss_sum = 0;
    for (std::int64_t first = 0; first < static_cast<std::int64_t>(order.size()); first += o.batch_size) {
      const torch::Tensor idx = perm.slice(0, first, std::min<std::int64_t>(first + o.batch_size, static_cast<std::int64_t>(order.size())));
      optimizer->zero_grad();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(train_x.index_select(0, idx)), train_y.index_select(0, idx));
      loss.backward();
      optimizer->step();
      loss_sum += loss.item<double>() * static_cast<double>(idx.size(0));
    }
    EpochReport er;
    er.epoch = epoch;
    er.train_loss = static_cast<float>(loss_sum / static_cast<double>(order.size()));
    {
      torch::NoGradGuard no_grad;
      net->eval();
      const torch::Tensor logits = net->forward(val_x);
      er.validation_loss = torch::nn::functional::cross_entropy(logits, val_y).item<float>();
      er.validation_accuracy = logits.argmax(1).eq(val_y).to(torch::kFloat).mean().item<float>();
    }
    er.learning_rate = static_cast<float>(lr);
    if (er.validation_loss < best_loss) {
      best_loss = er.validation_loss, best_accuracy = er.validation_accuracy, best_epoch = epoch, since_best = 0;
      best_state.clear();
      for (const auto& p : net->parameters()) best_state.push_back(p.detach().clone());
    } else if (++since_best >= o.early_stopping_patience) {
      break;
    }
    if (er.validation_loss < plateau_best - 1e-4f) {
      plateau_best = er.validation_loss, since_plateau_best = 0;
    } else if (++since_plateau_best > o.plateau_patience) {
      lr *= o.plateau_factor, since_plateau_best = 0;
      for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
    }
    if (o.on_epoch && !o.on_epoch(er)) throw Error(Status::Cancelled, "category training cancelled at epoch " + std::to_string(epoch));
  }
  if (best_state.empty())  // no epoch had a finite validation loss: nothing worth keeping
    throw Error(Status::InvalidArgument, "category training diverged: the validation loss was never finite in " + std::to_string(std::min(epoch, o.max_epochs)) +
                                             " epochs (learning_rate " + std::to_string(o.learning_rate) + " too high?)");
  {
    torch::NoGradGuard no_grad;
    const auto params = net->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_state[i]);
  }
  if (!linear) {
    w.w1 = to_vector(fc1->weight), w.b1 = to_vector(fc1->bias);
    w.w2 = to_vector(fc2->weight), w.b2 = to_vector(fc2->bias);
  }
  w.w3 = to_vector(fc3->weight), w.b3 = to_vector(fc3->bias);
  if (report != nullptr) {
    report->samples = count;
    report->epochs = std::min(epoch, o.max_epochs);
    report->best_epoch = best_epoch;
    report->best_validation_accuracy = best_accuracy;
    report->best_validation_loss = best_loss;
    report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return CategoryPredictor(std::move(w));
}

}  // namespace domainsearch
