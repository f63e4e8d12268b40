#pragma once
// Internal: where a catalogue's vectors are searched. It owns the Index (the embeddings as the current
// network makes them: the backbone's, or the fine-tuned network's) and, when an embedding adaptation is
// trained, the catalogue projected into the adaptation's space. Invariant, kept by this class alone:
// the projection holds exactly the Index's keys, categories, labels and masks, each vector being
// adapted(the Index's vector). Not thread-safe: the Catalogue's lock guards it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/index.hpp"

namespace domainsearch::detail {

class SearchSpace {
 public:
  /// A catalogue's embeddings, searched as they are (no adaptation).
  explicit SearchSpace(Index index);

  /// The embeddings as the network made them (what is saved, trained on and re-adapted).
  const Index& index() const noexcept { return index_; }
  const std::optional<CategoryPredictor>& adaptation() const noexcept { return adaptation_; }

  std::int32_t add_category(const std::string& name);
  /// Stores an item (replace: upsert) in the Index and its adapted form in the projection.
  void store(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label, const ContourMask* mask, bool replace);
  void remove(std::uint64_t key);

  /// What searches compare for a network embedding (index().dimension() floats): its adapted form when
  /// the space has an adaptation, else the embedding itself. Made once per query, valid until the space
  /// changes.
  std::vector<float> query_vector(const float* embedding) const;
  /// The k nearest items to a query_vector(), distances as the compared space gives them.
  std::vector<SearchHit> search(const std::vector<float>& query_vector, std::size_t k, const std::vector<std::int32_t>& categories,
                                const KeyFilter& filter) const;

  /// A projection computed without changing the space (it takes as long as the catalogue is large, so
  /// a writer makes it before taking the lock that installs it).
  struct Projection {
    std::optional<CategoryPredictor> adaptation;  ///< none: search the Index itself
    std::unique_ptr<Index> projected;
    std::uint64_t generation = 0;  ///< the space's generation it was made from
  };
  Projection project(std::optional<CategoryPredictor> adaptation) const;
  /// Installs a projection made from this space unchanged since; throws Internal otherwise.
  void install(Projection projection);

 private:
  Index index_;
  std::optional<CategoryPredictor> adaptation_;  // item classifier whose last hidden layer is the searched space
  std::unique_ptr<Index> projected_;             // the catalogue in that space
  std::uint64_t generation_;                     // a process-wide serial number of index_'s state
};

}  // namespace domainsearch::detail
