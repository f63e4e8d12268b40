#pragma once
// Internal: what fine-tuning produces (fine_tuning.hpp) and a catalogue stores in its FTUN section:
// the trained stages' parameters and the calibrated item classifier. No LibTorch here.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch::detail {

struct FineTunedModel {
  int first_stage = 0;
  std::vector<ParameterTensor> parameters;  ///< stages first_stage.. of the backbone
  std::vector<std::string> item_labels;     ///< the classifier's classes
  std::vector<std::string> item_categories; ///< the category of each class
  float temperature = 1.0f;                 ///< already folded into the classifier's weights
  /// Linear classifier over item_labels on the L2-normalised embedding; calibrated probabilities.
  std::optional<CategoryPredictor> classifier;

  /// Calibrated probabilities summed per category, most probable first (ties by name).
  std::vector<std::pair<std::string, float>> category_probabilities(const float* embedding, std::size_t dimension) const;
  /// Calibrated probability of each item label (indexed like item_labels).
  std::vector<float> item_probabilities(const float* embedding, std::size_t dimension) const;

  /// Byte encoding: u32 version, u32 JSON length, JSON (first stage, temperature, labels, categories,
  /// parameter names and shapes), the parameters' float32 values in order, the classifier.
  std::vector<std::uint8_t> serialize() const;
  /// Inverse of serialize(); throws Corrupt naming `where` on a malformed buffer.
  static FineTunedModel deserialize(const std::uint8_t* data, std::size_t size, const std::string& where);
};

}  // namespace domainsearch::detail
