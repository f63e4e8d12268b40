#pragma once
// Internal: what names a query's categories (the paper's classifier stage), chosen once per catalogue:
// the category head trained on the embeddings (ids as the Index's, by position), or the fine-tuned
// network's calibrated item classifier (categories by name; it also scores each result's match
// probability). Immutable once made: many queries may use one at once.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/query.hpp"
#include "io/section_file.hpp"
#include "training/fine_tuned_model.hpp"

namespace domainsearch::detail {

class CategoryModel {
 public:
  virtual ~CategoryModel() = default;
  /// The `top` most probable categories of an embedding of `dimension` floats, as ids into `names` (the
  /// Index's category table); categories the model knows but `names` lacks are left out.
  virtual std::vector<CategoryScore> predict(const float* embedding, std::size_t dimension, const std::vector<std::string>& names,
                                             std::size_t top) const = 0;
  /// Whether the model can predict category `id` (named `name`): false for one added after training.
  virtual bool knows(std::int32_t id, const std::string& name) const = 0;
  /// Sets each result's calibrated match probability (by its label); the head has none to give.
  virtual void score_matches(const float* embedding, std::size_t dimension, std::vector<QueryResult>& results) const = 0;
  /// Whether the model is the fine-tuned network's classifier (its results carry match probabilities).
  virtual bool is_fine_tuned() const noexcept = 0;
  /// The catalogue file's section that stores the model ("HEAD" or "FTUN") and its bytes.
  virtual SectionTag section() const noexcept = 0;
  virtual const std::vector<std::uint8_t>& bytes() const noexcept = 0;

  /// !knows(c) of every category of `names`, indexed by id.
  std::vector<bool> untrained(const std::vector<std::string>& names) const;
};

/// The category head: a CategoryPredictor over the network's embeddings, ids as the Index's.
class HeadCategoryModel final : public CategoryModel {
 public:
  explicit HeadCategoryModel(CategoryPredictor head);
  std::vector<CategoryScore> predict(const float* embedding, std::size_t dimension, const std::vector<std::string>& names,
                                     std::size_t top) const override;
  bool knows(std::int32_t id, const std::string& name) const override;
  void score_matches(const float*, std::size_t, std::vector<QueryResult>&) const override {}
  bool is_fine_tuned() const noexcept override { return false; }
  SectionTag section() const noexcept override;
  const std::vector<std::uint8_t>& bytes() const noexcept override { return bytes_; }
  const CategoryPredictor& head() const noexcept { return head_; }

 private:
  CategoryPredictor head_;
  std::vector<std::uint8_t> bytes_;
};

/// The fine-tuned network's item classifier: item probabilities summed per category, by name.
class FineTunedCategoryModel final : public CategoryModel {
 public:
  /// `bytes` is model.serialize() (as the FTUN section stores it).
  FineTunedCategoryModel(FineTunedModel model, std::vector<std::uint8_t> bytes);
  std::vector<CategoryScore> predict(const float* embedding, std::size_t dimension, const std::vector<std::string>& names,
                                     std::size_t top) const override;
  bool knows(std::int32_t id, const std::string& name) const override;
  void score_matches(const float* embedding, std::size_t dimension, std::vector<QueryResult>& results) const override;
  bool is_fine_tuned() const noexcept override { return true; }
  SectionTag section() const noexcept override;
  const std::vector<std::uint8_t>& bytes() const noexcept override { return bytes_; }
  const FineTunedModel& model() const noexcept { return model_; }

 private:
  FineTunedModel model_;
  std::vector<std::uint8_t> bytes_;
  std::unordered_map<std::string, std::size_t> item_of_label_;  // the classifier's class of each item label
  std::unordered_set<std::string> categories_;                  // the categories it was trained on
};

}  // namespace domainsearch::detail
