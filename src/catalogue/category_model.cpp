#include "catalogue/category_model.hpp"

#include <algorithm>

namespace domainsearch::detail {

std::vector<bool> CategoryModel::untrained(const std::vector<std::string>& names) const {
  std::vector<bool> mask(names.size(), false);
  for (std::size_t c = 0; c < names.size(); ++c) mask[c] = !knows(static_cast<std::int32_t>(c), names[c]);
  return mask;
}

HeadCategoryModel::HeadCategoryModel(CategoryPredictor head) : head_(std::move(head)), bytes_(head_.serialize()) {}

std::vector<CategoryScore> HeadCategoryModel::predict(const float* embedding, std::size_t, const std::vector<std::string>&, std::size_t top) const {
  return head_.predict(embedding, top);
}

bool HeadCategoryModel::knows(std::int32_t id, const std::string&) const { return id < head_.category_count(); }

SectionTag HeadCategoryModel::section() const noexcept { return tag("HEAD"); }

FineTunedCategoryModel::FineTunedCategoryModel(FineTunedModel model, std::vector<std::uint8_t> bytes)
    : model_(std::move(model)), bytes_(std::move(bytes)), categories_(model_.item_categories.begin(), model_.item_categories.end()) {
  for (std::size_t i = 0; i < model_.item_labels.size(); ++i) item_of_label_.emplace(model_.item_labels[i], i);
}

std::vector<CategoryScore> FineTunedCategoryModel::predict(const float* embedding, std::size_t dimension, const std::vector<std::string>& names,
                                                           std::size_t top) const {
  std::vector<CategoryScore> out;
  for (const auto& [name, p] : model_.category_probabilities(embedding, dimension)) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it != names.end()) out.push_back({static_cast<std::int32_t>(it - names.begin()), p});
    if (out.size() == top) break;
  }
  return out;
}

bool FineTunedCategoryModel::knows(std::int32_t, const std::string& name) const { return categories_.count(name) != 0; }

void FineTunedCategoryModel::score_matches(const float* embedding, std::size_t dimension, std::vector<QueryResult>& results) const {
  const std::vector<float> p = model_.item_probabilities(embedding, dimension);
  for (QueryResult& r : results) {
    const auto item = item_of_label_.find(r.label);
    r.match_probability = item == item_of_label_.end() ? 0.0f : p[item->second];
  }
}

SectionTag FineTunedCategoryModel::section() const noexcept { return tag("FTUN"); }

}  // namespace domainsearch::detail
