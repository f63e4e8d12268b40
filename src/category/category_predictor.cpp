// Inference and serialisation of the category head (Eigen; no LibTorch here).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "category/head_weights.hpp"
#include "domainsearch/error.hpp"

namespace domainsearch {
namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;
constexpr std::uint32_t kFormatVersion = 1;

Eigen::Map<const Matrix> as_matrix(const std::vector<float>& v, int rows, int cols) { return {v.data(), rows, cols}; }
Eigen::Map<const Vector> as_vector(const std::vector<float>& v) { return {v.data(), static_cast<Eigen::Index>(v.size())}; }

std::vector<std::vector<float>*> tensors(detail::HeadWeights& w) {
  return {&w.mean, &w.inv_std, &w.w1, &w.b1, &w.w2, &w.b2, &w.w3, &w.b3};
}

// Width of the layer the output layer reads: the last hidden one, or the input for a linear head.
int last_width(const detail::HeadWeights& w) { return w.hidden2 > 0 ? w.hidden2 : w.dimension; }

std::vector<std::size_t> tensor_sizes(const detail::HeadWeights& w) {
  const std::size_t d = static_cast<std::size_t>(w.dimension), h1 = static_cast<std::size_t>(w.hidden1),
                    h2 = static_cast<std::size_t>(w.hidden2), c = static_cast<std::size_t>(w.categories);
  return {d, d, h1 * d, h1, h2 * h1, h2, c * static_cast<std::size_t>(last_width(w)), c};
}

}  // namespace

CategoryPredictor::CategoryPredictor(detail::HeadWeights weights) : weights_(std::make_unique<detail::HeadWeights>(std::move(weights))) {}
CategoryPredictor::~CategoryPredictor() = default;
CategoryPredictor::CategoryPredictor(CategoryPredictor&&) noexcept = default;
CategoryPredictor& CategoryPredictor::operator=(CategoryPredictor&&) noexcept = default;
CategoryPredictor::CategoryPredictor(const CategoryPredictor& other) : weights_(std::make_unique<detail::HeadWeights>(*other.weights_)) {}

int CategoryPredictor::dimension() const noexcept { return weights_->dimension; }
int CategoryPredictor::category_count() const noexcept { return weights_->categories; }

namespace {

Vector last_hidden(const detail::HeadWeights& w, const float* embedding) {
  if (embedding == nullptr) throw Error(Status::InvalidArgument, "CategoryPredictor: embedding pointer is null");
  const Eigen::Map<const Vector> x(embedding, w.dimension);
  if (!x.allFinite()) throw Error(Status::InvalidArgument, "CategoryPredictor: embedding has non-finite values");
  const Vector z = (x - as_vector(w.mean)).cwiseProduct(as_vector(w.inv_std));
  if (w.hidden2 == 0) return z;  // linear head
  const Vector h1 = (as_matrix(w.w1, w.hidden1, w.dimension) * z + as_vector(w.b1)).cwiseMax(0.0f);
  return (as_matrix(w.w2, w.hidden2, w.hidden1) * h1 + as_vector(w.b2)).cwiseMax(0.0f);
}

}  // namespace

int CategoryPredictor::penultimate_dimension() const noexcept { return last_width(*weights_); }

std::vector<float> CategoryPredictor::penultimate(const float* embedding) const {
  const Vector h2 = last_hidden(*weights_, embedding);
  return std::vector<float>(h2.data(), h2.data() + h2.size());
}

std::vector<float> CategoryPredictor::probabilities(const float* embedding) const {
  const detail::HeadWeights& w = *weights_;
  Vector logits = as_matrix(w.w3, w.categories, last_width(w)) * last_hidden(w, embedding) + as_vector(w.b3);
  logits.array() -= logits.maxCoeff();
  logits = logits.array().exp();
  logits /= logits.sum();
  return std::vector<float>(logits.data(), logits.data() + logits.size());
}

std::vector<CategoryScore> CategoryPredictor::predict(const float* embedding, std::size_t top_k) const {
  if (top_k == 0) throw Error(Status::InvalidArgument, "CategoryPredictor: top_k must be at least 1");
  const std::vector<float> p = probabilities(embedding);
  std::vector<std::int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  const std::size_t k = std::min(top_k, p.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::int32_t a, std::int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::vector<CategoryScore> out;
  for (std::size_t i = 0; i < k; ++i) out.push_back({order[i], p[static_cast<std::size_t>(order[i])]});
  return out;
}

CategoryPredictor CategoryPredictor::linear(int dimension, int categories, std::vector<float> weights, std::vector<float> bias) {
  if (dimension < 1 || dimension > 65536 || categories < 2 || categories > 65536 ||
      weights.size() != static_cast<std::size_t>(dimension) * static_cast<std::size_t>(categories) || bias.size() != static_cast<std::size_t>(categories))
    throw Error(Status::InvalidArgument, "CategoryPredictor::linear: " + std::to_string(weights.size()) + " weights and " + std::to_string(bias.size()) +
                                             " biases do not make " + std::to_string(categories) + " categories (at least 2) over " +
                                             std::to_string(dimension) + "-d embeddings");
  const auto finite = [](const std::vector<float>& v) { return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }); };
  if (!finite(weights) || !finite(bias)) throw Error(Status::InvalidArgument, "CategoryPredictor::linear: a weight or bias is not finite");
  detail::HeadWeights w;
  w.dimension = dimension, w.categories = categories;
  w.mean.assign(static_cast<std::size_t>(dimension), 0.0f);
  w.inv_std.assign(static_cast<std::size_t>(dimension), 1.0f);
  w.w3 = std::move(weights), w.b3 = std::move(bias);
  return CategoryPredictor(std::move(w));
}

// Layout: u32 version, i32 dimension, categories, hidden1, hidden2, then the float tensors in order.
std::vector<std::uint8_t> CategoryPredictor::serialize() const {
  detail::HeadWeights w = *weights_;
  const std::int32_t header[5] = {static_cast<std::int32_t>(kFormatVersion), w.dimension, w.categories, w.hidden1, w.hidden2};
  std::vector<std::uint8_t> out(sizeof(header));
  std::memcpy(out.data(), header, sizeof(header));
  for (const std::vector<float>* t : tensors(w)) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(t->data());  // empty for a linear head's hidden layers
    out.insert(out.end(), bytes, bytes + t->size() * sizeof(float));
  }
  return out;
}

CategoryPredictor CategoryPredictor::deserialize(const std::uint8_t* data, std::size_t size) {
  std::int32_t header[5];
  if (data == nullptr || size < sizeof(header)) throw Error(Status::Corrupt, "category head: buffer shorter than its header");
  std::memcpy(header, data, sizeof(header));
  if (header[0] != static_cast<std::int32_t>(kFormatVersion))
    throw Error(Status::FormatVersion, "category head: format v" + std::to_string(header[0]) + ", this build reads v1");
  const bool linear = header[3] == 0 && header[4] == 0;
  for (int i = 1; i < 5; ++i)
    if ((header[i] < 1 && !(linear && i >= 3)) || header[i] > 65536)
      throw Error(Status::Corrupt, "category head: implausible layer size " + std::to_string(header[i]));
  detail::HeadWeights w;
  w.dimension = header[1], w.categories = header[2], w.hidden1 = header[3], w.hidden2 = header[4];
  const auto sizes = tensor_sizes(w);
  const std::size_t floats = std::accumulate(sizes.begin(), sizes.end(), std::size_t{0});
  if (size != sizeof(header) + floats * sizeof(float))
    throw Error(Status::Corrupt, "category head: " + std::to_string(size) + " bytes, expected " + std::to_string(sizeof(header) + floats * 4));
  const std::uint8_t* p = data + sizeof(header);
  auto targets = tensors(w);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    targets[i]->resize(sizes[i]);
    if (sizes[i] > 0) std::memcpy(targets[i]->data(), p, sizes[i] * sizeof(float));
    p += sizes[i] * sizeof(float);
  }
  return CategoryPredictor(std::move(w));
}

}  // namespace domainsearch
