#pragma once
// Internal: the category head's parameters, row-major (torch::nn::Linear layout: out x in).
#include <vector>

#include "domainsearch/category_predictor.hpp"

namespace domainsearch::detail {

struct HeadWeights {
  int dimension = 0;
  int categories = 0;
  int hidden1 = 0;
  int hidden2 = 0;
  std::vector<float> mean;     ///< dimension; subtracted from the input (zeros for raw features)
  std::vector<float> inv_std;  ///< dimension; multiplies the centred input (ones for raw features)
  std::vector<float> w1, b1;   ///< hidden1 x dimension, hidden1
  std::vector<float> w2, b2;   ///< hidden2 x hidden1, hidden2
  std::vector<float> w3, b3;   ///< categories x hidden2, categories
};

}  // namespace domainsearch::detail
