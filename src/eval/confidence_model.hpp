#pragma once
// Internal: fitting a ConfidenceModel (pipeline_config.hpp) to answers whose rightness is known, by
// weighted, L2-regularised logistic regression (Newton's method on standardised features), and the
// out-of-fold confidences that measure it honestly. Used by evaluate(). Reentrant.
#include <cstddef>
#include <vector>

#include "search/ranking.hpp"

namespace domainsearch::detail {

struct ConfidenceSample {
  AnswerEvidence evidence;
  bool right = false;        ///< the first item is the query's (never for an item not in the catalogue)
  double weight = 1.0;       ///< > 0
  std::size_t fold = 0;      ///< out_of_fold_confidences() leaves each fold out in turn
};

/// The model of sigmoid(bias + probability * logit(p) + distance * d + margin * m) (the probability
/// term only with use_probability) that best predicts `right`, from the samples with results (one
/// without has distance +infinity, and every model gives it 0); a feature constant over them gets
/// weight 0. InvalidArgument when those samples are all right or all wrong, a weight is not positive,
/// use_probability and a sample has no probability (< 0), or the fit does not converge.
ConfidenceModel fit_confidence_model(const std::vector<ConfidenceSample>& samples, bool use_probability);

/// Each sample's confidence under a model fitted on the samples of the other folds (a fold whose
/// complement is all right or all wrong gets the model of every sample, which is then not out of fold).
std::vector<float> out_of_fold_confidences(const std::vector<ConfidenceSample>& samples, bool use_probability);

}  // namespace domainsearch::detail
