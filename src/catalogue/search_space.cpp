#include "catalogue/search_space.hpp"

#include <atomic>

#include "domainsearch/error.hpp"
#include "domainsearch/feature_extractor.hpp"

namespace domainsearch::detail {
namespace {

// A network embedding in an adaptation's space: its last hidden layer, L2-normalised.
std::vector<float> adapted(const CategoryPredictor& adaptation, const float* embedding) {
  std::vector<float> v = adaptation.penultimate(embedding);
  l2_normalize_rows(v.data(), 1, v.size());
  return v;
}

// Every state of every space gets its own number: a projection made from one space (or an earlier state
// of it) never installs on another.
std::uint64_t next_generation() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

}  // namespace

SearchSpace::SearchSpace(Index index) : index_(std::move(index)), generation_(next_generation()) {}

std::int32_t SearchSpace::add_category(const std::string& name) {
  const std::int32_t id = index_.add_category(name);
  if (projected_) projected_->add_category(name);
  generation_ = next_generation();
  return id;
}

void SearchSpace::store(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label, const ContourMask* mask,
                        bool replace) {
  if (replace) index_.upsert(key, category, embedding, label, mask);
  else index_.add(key, category, embedding, label, mask);
  generation_ = next_generation();
  if (projected_) projected_->upsert(key, category, adapted(*adaptation_, embedding).data(), label, mask);
}

void SearchSpace::remove(std::uint64_t key) {
  index_.remove(key);
  generation_ = next_generation();
  if (projected_) projected_->remove(key);
}

std::vector<float> SearchSpace::query_vector(const float* embedding) const {
  if (projected_) return adapted(*adaptation_, embedding);
  return std::vector<float>(embedding, embedding + index_.dimension());
}

std::vector<SearchHit> SearchSpace::search(const std::vector<float>& query_vector, std::size_t k, const std::vector<std::int32_t>& categories,
                                           const KeyFilter& filter) const {
  return (projected_ ? *projected_ : index_).search(query_vector.data(), k, categories, filter);
}

SearchSpace::Projection SearchSpace::project(std::optional<CategoryPredictor> adaptation) const {
  Projection p{std::move(adaptation), nullptr, generation_};
  if (!p.adaptation) return p;
  if (p.adaptation->dimension() != index_.dimension())
    throw Error(Status::InvalidArgument, "the embedding adaptation takes " + std::to_string(p.adaptation->dimension()) +
                                             "-d embeddings, the catalogue stores " + std::to_string(index_.dimension()) + "-d");
  p.projected = std::make_unique<Index>(p.adaptation->penultimate_dimension());
  for (const std::string& name : index_.category_names()) p.projected->add_category(name);
  for (std::uint64_t key : index_.keys()) {
    const IndexItem item = index_.get(key);
    p.projected->add(key, item.category, adapted(*p.adaptation, item.embedding.data()).data(), item.label, item.mask ? &*item.mask : nullptr);
  }
  return p;
}

void SearchSpace::install(Projection projection) {
  if (projection.generation != generation_)
    throw Error(Status::Internal, "SearchSpace: a projection made before the catalogue changed cannot be installed");
  adaptation_ = std::move(projection.adaptation);
  projected_ = std::move(projection.projected);
}

}  // namespace domainsearch::detail
