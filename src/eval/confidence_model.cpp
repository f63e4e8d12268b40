#include "eval/confidence_model.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

constexpr double kRidge = 1e-3;          // per unit of sample weight, on the standardised weights (not the bias)
constexpr double kConstantSpread = 1e-6;  // a feature this constant gets no weight
constexpr int kMaxNewtonSteps = 100;

double logit(float p) {
  const double q = std::clamp(static_cast<double>(p), 1e-4, 1 - 1e-4);  // as confidence_of()
  return std::log(q / (1 - q));
}

// The samples a model can learn from: answers with results (without, confidence_of() gives 0).
std::vector<const ConfidenceSample*> usable(const std::vector<ConfidenceSample>& samples, bool use_probability) {
  std::vector<const ConfidenceSample*> out;
  for (const ConfidenceSample& s : samples) {
    if (!(s.weight > 0) || !std::isfinite(s.weight)) throw Error(Status::InvalidArgument, "fit_confidence_model: a sample weight is not positive");
    if (!std::isfinite(s.evidence.distance)) continue;
    if (use_probability && s.evidence.probability < 0)
      throw Error(Status::InvalidArgument, "fit_confidence_model: an answer without a match probability (the catalogue is not fine-tuned)");
    out.push_back(&s);
  }
  return out;
}

// Row i: the features of sample i (logit(p) first when used), before standardising.
Eigen::MatrixXd features(const std::vector<const ConfidenceSample*>& samples, bool use_probability) {
  Eigen::MatrixXd x(static_cast<Eigen::Index>(samples.size()), use_probability ? 3 : 2);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const AnswerEvidence& e = samples[i]->evidence;
    const auto row = static_cast<Eigen::Index>(i);
    Eigen::Index c = 0;
    if (use_probability) x(row, c++) = logit(e.probability);
    x(row, c++) = e.distance;
    x(row, c) = e.margin;
  }
  return x;
}

// Weighted negative log-likelihood of logistic regression plus the ridge.
double penalised_loss(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& w, const Eigen::MatrixXd& ridge,
                      const Eigen::VectorXd& theta) {
  const Eigen::ArrayXd z = (x * theta).array();
  // log(1 + e^z) - y z, computed without overflow.
  const Eigen::ArrayXd softplus = z.max(0.0) + (-z.abs()).exp().log1p();
  return (w.array() * (softplus - y.array() * z)).sum() + 0.5 * theta.dot(ridge * theta);
}

// Newton's method with backtracking (the step halved until the penalised loss does not rise).
Eigen::VectorXd newton(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& w, const Eigen::MatrixXd& ridge) {
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(x.cols());
  double loss = penalised_loss(x, y, w, ridge, theta);
  for (int step = 0; step < kMaxNewtonSteps; ++step) {
    const Eigen::ArrayXd p = 1 / (1 + (-(x * theta)).array().exp());
    const Eigen::VectorXd gradient = x.transpose() * (w.array() * (p - y.array())).matrix() + ridge * theta;
    const Eigen::MatrixXd hessian = x.transpose() * (w.array() * p * (1 - p)).matrix().asDiagonal() * x + ridge +
                                    1e-9 * Eigen::MatrixXd::Identity(x.cols(), x.cols());
    Eigen::VectorXd delta = hessian.ldlt().solve(gradient);
    double shrink = 1;
    for (; shrink > 1e-6; shrink /= 2) {
      const double next = penalised_loss(x, y, w, ridge, theta - shrink * delta);
      if (std::isfinite(next) && next <= loss) {
        loss = next;
        break;
      }
    }
    if (shrink <= 1e-6) break;  // no step lowers the loss: at the optimum (to rounding)
    theta -= shrink * delta;
    if ((shrink * delta).norm() < 1e-10) break;
  }
  if (!theta.allFinite()) throw Error(Status::InvalidArgument, "fit_confidence_model: the fit did not converge");
  return theta;
}

}  // namespace

ConfidenceModel fit_confidence_model(const std::vector<ConfidenceSample>& all, bool use_probability) {
  const std::vector<const ConfidenceSample*> samples = usable(all, use_probability);
  std::size_t right = 0;
  for (const ConfidenceSample* s : samples) right += s->right;
  if (right == 0 || right == samples.size())
    throw Error(Status::InvalidArgument, "fit_confidence_model: needs right and wrong answers, got " + std::to_string(right) + " right of " +
                                             std::to_string(samples.size()) + " with results");
  const Eigen::MatrixXd raw = features(samples, use_probability);
  Eigen::VectorXd w(raw.rows()), y(raw.rows());
  for (std::size_t i = 0; i < samples.size(); ++i) w(static_cast<Eigen::Index>(i)) = samples[i]->weight, y(static_cast<Eigen::Index>(i)) = samples[i]->right;
  // Standardised features (a constant one zeroed) after a column of ones (the bias).
  const Eigen::RowVectorXd mean = (w.transpose() * raw) / w.sum();
  const Eigen::MatrixXd centred = raw.rowwise() - mean;
  const Eigen::RowVectorXd spread = ((w.asDiagonal() * centred.cwiseAbs2()).colwise().sum() / w.sum()).cwiseSqrt();
  const Eigen::RowVectorXd scale = (spread.array() > kConstantSpread).select(spread.array().inverse(), 0.0).matrix();
  Eigen::MatrixXd x(raw.rows(), raw.cols() + 1);
  x.col(0).setOnes();
  x.rightCols(raw.cols()) = centred.array().rowwise() * scale.array();
  Eigen::MatrixXd ridge = kRidge * w.sum() * Eigen::MatrixXd::Identity(x.cols(), x.cols());
  ridge(0, 0) = 0;
  const Eigen::VectorXd theta = newton(x, y, w, ridge);
  // Back to the raw features: z = theta0 + sum_j theta_j * scale_j * (f_j - mean_j).
  const Eigen::VectorXd slope = theta.tail(raw.cols()).array() * scale.transpose().array();
  ConfidenceModel model;
  model.bias = static_cast<float>(theta(0) - mean.transpose().dot(slope));
  Eigen::Index c = 0;
  if (use_probability) model.probability = static_cast<float>(slope(c++));
  model.distance = static_cast<float>(slope(c++));
  model.margin = static_cast<float>(slope(c));
  return model;
}

std::vector<float> out_of_fold_confidences(const std::vector<ConfidenceSample>& samples, bool use_probability) {
  std::set<std::size_t> folds;
  for (const ConfidenceSample& s : samples) folds.insert(s.fold);
  std::vector<float> out(samples.size(), -1.0f);
  for (const std::size_t fold : folds) {
    std::vector<ConfidenceSample> others;
    for (const ConfidenceSample& s : samples)
      if (s.fold != fold) others.push_back(s);
    ConfidenceModel model;
    try {
      model = fit_confidence_model(others, use_probability);
    } catch (const Error&) {
      model = fit_confidence_model(samples, use_probability);  // the other folds hold one kind of answer only
    }
    for (std::size_t i = 0; i < samples.size(); ++i)
      if (samples[i].fold == fold) out[i] = confidence_of(model, samples[i].evidence);
  }
  return out;
}

}  // namespace domainsearch::detail
