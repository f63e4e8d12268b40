#include <catch2/catch.hpp>
#include <cmath>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/error.hpp"
#include "test_util.hpp"

using namespace domainsearch;

namespace {

// Gaussian blobs: category c centred at 4 * e_c (+ an offset in every dimension to make raw features awkward).
struct Blobs {
  std::vector<float> x;
  std::vector<std::int32_t> y;
};

Blobs make_blobs(int categories, int per_category, int d, std::uint32_t seed) {
  Blobs b;
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  for (int c = 0; c < categories; ++c)
    for (int i = 0; i < per_category; ++i) {
      for (int j = 0; j < d; ++j) b.x.push_back(noise(rng) + (j == c ? 4.0f : 0.0f) + 10.0f);
      b.y.push_back(c);
    }
  return b;
}

float accuracy(const CategoryPredictor& p, const Blobs& b, int d) {
  int right = 0;
  for (std::size_t i = 0; i < b.y.size(); ++i) right += p.predict(b.x.data() + i * d, 1)[0].category == b.y[i];
  return static_cast<float>(right) / static_cast<float>(b.y.size());
}

CategoryTrainingOptions small_head() {
  CategoryTrainingOptions o;
  o.hidden1 = 64;
  o.hidden2 = 32;
  o.max_epochs = 60;
  return o;
}

}  // namespace

TEST_CASE("the head learns separable categories and generalises", "[category]") {
  const int d = 12, k = 5;
  const Blobs train = make_blobs(k, 60, d, 1), test = make_blobs(k, 40, d, 2);
  TrainingReport report;
  const CategoryPredictor p = CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, small_head(), &report);
  CHECK(p.dimension() == d);
  CHECK(p.category_count() == k);
  CHECK(accuracy(p, test, d) > 0.9f);
  CHECK(report.epochs >= report.best_epoch);
  CHECK(report.best_validation_accuracy > 0.8f);

  const auto probs = p.probabilities(test.x.data());
  float sum = 0;
  for (float q : probs) sum += q;
  CHECK(sum == Approx(1.0f).epsilon(1e-5));
  const auto top = p.predict(test.x.data(), 3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].probability >= top[1].probability);
  CHECK(top[1].probability >= top[2].probability);
  CHECK(p.predict(test.x.data(), 99).size() == static_cast<std::size_t>(k));
}

TEST_CASE("the paper's recipe trains too and training is reproducible", "[category]") {
  const int d = 12, k = 4;
  const Blobs train = make_blobs(k, 50, d, 3);
  auto o = small_head();
  o.recipe = TrainingRecipe::Paper;
  o.max_epochs = 20;
  const auto a = CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, o);
  const auto b = CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, o);
  CHECK(a.serialize() == b.serialize());
}

TEST_CASE("a training whose loss is never finite is refused with a clear error, not kept", "[category]") {
  const int d = 12, k = 4;
  const Blobs train = make_blobs(k, 30, d, 5);
  auto o = small_head();
  o.recipe = TrainingRecipe::Paper;  // plain SGD: a huge step sends the weights, and so the loss, to infinity
  o.learning_rate = 1e30f;
  o.max_epochs = 3;
  try {
    CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, o);
    FAIL("a diverged training returned a model");
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    CHECK(std::string(e.what()).find("diverged: the validation loss was never finite") != std::string::npos);
  }
}

TEST_CASE("serialisation round-trips / malformed buffers are refused", "[category]") {
  const int d = 6, k = 3;
  const Blobs train = make_blobs(k, 20, d, 4);
  auto o = small_head();
  o.max_epochs = 5;
  const auto p = CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, o);
  const auto bytes = p.serialize();
  const auto q = CategoryPredictor::deserialize(bytes.data(), bytes.size());
  CHECK(q.probabilities(train.x.data()) == p.probabilities(train.x.data()));
  auto cut = bytes;
  cut.pop_back();
  CHECK_THROWS_AS(CategoryPredictor::deserialize(cut.data(), cut.size()), Error);
  auto huge = bytes;
  huge[4] = 0xFF, huge[5] = 0xFF, huge[6] = 0xFF, huge[7] = 0x7F;
  CHECK_THROWS_AS(CategoryPredictor::deserialize(huge.data(), huge.size()), Error);
}

TEST_CASE("bad training input and cancellation", "[category]") {
  const int d = 4;
  const Blobs train = make_blobs(2, 10, d, 5);
  const auto status = dstest::status_of;
  auto labels = train.y;
  labels[3] = 7;
  CHECK(status([&] { CategoryPredictor::train(train.x.data(), labels.size(), d, labels.data(), 2); }) == Status::InvalidArgument);
  auto x = train.x;
  x[5] = NAN;
  CHECK(status([&] { CategoryPredictor::train(x.data(), train.y.size(), d, train.y.data(), 2); }) == Status::InvalidArgument);
  auto o = small_head();
  o.on_epoch = [](const EpochReport& e) { return e.epoch < 2; };
  CHECK(status([&] { CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), 2, o); }) == Status::Cancelled);
  const auto p = CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), 2, small_head());
  CHECK(status([&] { p.predict(train.x.data(), 0); }) == Status::InvalidArgument);
}

TEST_CASE("a linear head (hidden sizes 0) trains / exposes its input as penultimate / round-trips", "[category]") {
  const int d = 12, k = 5;
  const Blobs train = make_blobs(k, 60, d, 1), test = make_blobs(k, 40, d, 2);
  auto o = small_head();
  o.hidden1 = 0, o.hidden2 = 0, o.dropout = 0, o.learning_rate = 1e-2f, o.max_epochs = 200;
  const CategoryPredictor p = CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, o);
  CHECK(accuracy(p, test, d) > 0.9f);
  CHECK(p.penultimate_dimension() == d);
  CHECK(p.penultimate(test.x.data()).size() == static_cast<std::size_t>(d));
  const auto bytes = p.serialize();
  CHECK(bytes.size() == 20 + 4 * (2 * d + k * d + k));  // header, standardisation, one layer
  const auto q = CategoryPredictor::deserialize(bytes.data(), bytes.size());
  CHECK(q.probabilities(test.x.data()) == p.probabilities(test.x.data()));
  o.hidden2 = 8;  // one hidden size 0 and the other not is no architecture
  CHECK_THROWS_AS(CategoryPredictor::train(train.x.data(), train.y.size(), d, train.y.data(), k, o), Error);
}

TEST_CASE("a linear classifier from given weights predicts softmax(W x + b) and round-trips", "[category]") {
  // W = [[2, 0, 0], [0, 1, 0]], b = [0, 0.5]: x = (1, 1, 7) scores 2 vs 1.5.
  const CategoryPredictor p = CategoryPredictor::linear(3, 2, {2, 0, 0, 0, 1, 0}, {0, 0.5f});
  CHECK(p.dimension() == 3);
  CHECK(p.category_count() == 2);
  CHECK(p.penultimate_dimension() == 3);
  const float x[3] = {1, 1, 7};
  const std::vector<float> probabilities = p.probabilities(x);
  CHECK(probabilities[0] == Approx(1.0 / (1.0 + std::exp(-0.5))));
  CHECK(p.predict(x).front().category == 0);
  CHECK(p.penultimate(x) == std::vector<float>{1, 1, 7});
  const std::vector<std::uint8_t> bytes = p.serialize();
  CHECK(CategoryPredictor::deserialize(bytes.data(), bytes.size()).probabilities(x) == probabilities);
  // Sizes that do not fit, one category, a non-finite weight: refused.
  using dstest::status_of;
  CHECK(status_of([] { CategoryPredictor::linear(3, 2, {1, 2, 3}, {0, 0}); }) == Status::InvalidArgument);
  CHECK(status_of([] { CategoryPredictor::linear(3, 1, {1, 2, 3}, {0}); }) == Status::InvalidArgument);
  CHECK(status_of([] { CategoryPredictor::linear(1, 2, {1, NAN}, {0, 0}); }) == Status::InvalidArgument);
}
