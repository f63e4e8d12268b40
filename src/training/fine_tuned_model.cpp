#include "training/fine_tuned_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "domainsearch/error.hpp"
#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/feature_extractor.hpp"
#include "io/json_text.hpp"

namespace domainsearch {

TrainingReport training_summary(const FineTuningReport& f) {
  TrainingReport r;
  r.samples = f.views;
  r.epochs = r.best_epoch = f.epochs;
  r.best_validation_accuracy = f.calibration_accuracy;
  r.best_validation_loss = f.final_loss;
  r.seconds = f.cache_seconds + f.training_seconds + f.reembedding_seconds;
  r.dropped = f.dropped.size();
  return r;
}

}  // namespace domainsearch

namespace domainsearch::detail {
namespace {

using nlohmann::json;
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kMaxFloats = std::size_t(1) << 31;  // 8 GiB of weights: anything above is corrupt

void append(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), bytes, bytes + size);
}

// Bounds-checked reading of a byte buffer.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, std::string where) : data_(data), size_(size), where_(std::move(where)) {}
  const std::uint8_t* take(std::size_t n) {
    if (n > size_ - pos_) throw Error(Status::Corrupt, where_ + ": fine-tuned model ends early (wanted " + std::to_string(n) + " more bytes)");
    const std::uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  std::uint32_t u32() {
    std::uint32_t v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::size_t remaining() const { return size_ - pos_; }
  [[noreturn]] void corrupt(const std::string& what) const { throw Error(Status::Corrupt, where_ + ": fine-tuned model: " + what); }

 private:
  const std::uint8_t* data_;
  std::size_t size_, pos_ = 0;
  std::string where_;
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// A parameter's shape as the description gives it: an array of whole numbers (a fractional or
// out-of-range number is refused here, never converted).
std::vector<std::int64_t> parse_shape(const json& shape, const std::string& name, const Cursor& c) {
  if (!shape.is_array()) c.corrupt("the shape of parameter \"" + name + "\" is not an array");
  std::vector<std::int64_t> out;
  for (const json& d : shape) {
    if (!d.is_number_integer() || (d.is_number_unsigned() && d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)))
      c.corrupt("the shape of parameter \"" + name + "\" holds " + d.dump() + ", not a dimension");
    out.push_back(d.get<std::int64_t>());
  }
  return out;
}

// The number of values of a parameter, checked against what the bytes left can hold before anything is
// allocated (a shape is only a claim: a 1 GiB one in a small section must cost nothing). Overflow-safe:
// every partial product stays at most kMaxFloats (2^31), each factor too.
std::size_t element_count(const ParameterTensor& p, const Cursor& c) {
  std::size_t n = 1;
  for (std::int64_t d : p.shape) {
    if (d < 0 || static_cast<std::uint64_t>(d) > kMaxFloats)
      c.corrupt("implausible shape " + shape_text(p.shape) + " of parameter \"" + p.name + "\"");
    n *= static_cast<std::size_t>(d);
    if (n > kMaxFloats) c.corrupt("implausible shape " + shape_text(p.shape) + " of parameter \"" + p.name + "\"");
  }
  if (n > c.remaining() / sizeof(float))
    c.corrupt("parameter \"" + p.name + "\" of shape " + shape_text(p.shape) + " needs " + std::to_string(n) + " float32 values (" +
              std::to_string(static_cast<std::uint64_t>(n) * sizeof(float)) + " bytes), but only " + std::to_string(c.remaining()) +
              " bytes are left");
  return n;
}

}  // namespace

std::vector<float> FineTunedModel::item_probabilities(const float* embedding, std::size_t dimension) const {
  std::vector<float> x(embedding, embedding + dimension);
  l2_normalize_rows(x.data(), 1, dimension);
  return classifier->probabilities(x.data());
}

std::vector<std::pair<std::string, float>> FineTunedModel::category_probabilities(const float* embedding, std::size_t dimension) const {
  const std::vector<float> p = item_probabilities(embedding, dimension);
  std::map<std::string, float> sums;
  for (std::size_t i = 0; i < p.size(); ++i) sums[item_categories[i]] += p[i];
  std::vector<std::pair<std::string, float>> out(sums.begin(), sums.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

std::vector<std::uint8_t> FineTunedModel::serialize() const {
  json params = json::array();
  for (const ParameterTensor& p : parameters) params.push_back({{"name", p.name}, {"shape", p.shape}});
  const std::string meta = json{{"first_stage", first_stage}, {"temperature", temperature}, {"labels", item_labels},
                                {"categories", item_categories}, {"parameters", params}}
                               .dump();
  std::vector<std::uint8_t> out;
  const std::uint32_t header[2] = {kVersion, static_cast<std::uint32_t>(meta.size())};
  append(out, header, sizeof header);
  append(out, meta.data(), meta.size());
  for (const ParameterTensor& p : parameters) append(out, p.values.data(), p.values.size() * sizeof(float));
  const std::vector<std::uint8_t> head = classifier->serialize();
  append(out, head.data(), head.size());
  return out;
}

FineTunedModel FineTunedModel::deserialize(const std::uint8_t* data, std::size_t size, const std::string& where) {
  Cursor c(data, size, where);
  if (const std::uint32_t version = c.u32(); version != kVersion)
    throw Error(Status::FormatVersion, where + ": fine-tuned model format v" + std::to_string(version) + ", this build reads v1");
  const std::uint32_t meta_size = c.u32();
  const char* meta_bytes = reinterpret_cast<const char*>(c.take(meta_size));
  FineTunedModel m;
  try {
    const json meta = parse_json(meta_bytes, meta_bytes + meta_size, where + ": fine-tuned model description", Status::Corrupt);
    const json& first_stage = meta.at("first_stage");
    if (!first_stage.is_number_integer() || first_stage.get<std::int64_t>() < 0 || first_stage.get<std::int64_t>() > 1'000'000)
      c.corrupt("first_stage is " + first_stage.dump() + ", not a stage number");
    m.first_stage = first_stage.get<int>();
    const json& temperature = meta.at("temperature");
    if (!temperature.is_number() || !(std::abs(temperature.get<double>()) <= 1e30))
      c.corrupt("temperature is " + temperature.dump() + ", not a finite number");
    m.temperature = static_cast<float>(temperature.get<double>());
    m.item_labels = meta.at("labels").get<std::vector<std::string>>();
    m.item_categories = meta.at("categories").get<std::vector<std::string>>();
    for (const json& p : meta.at("parameters")) {
      std::string name = p.at("name").get<std::string>();
      std::vector<std::int64_t> shape = parse_shape(p.at("shape"), name, c);
      m.parameters.push_back({std::move(name), std::move(shape), {}});
    }
  } catch (const json::exception& e) {
    c.corrupt(std::string("malformed description (") + e.what() + ")");
  }
  for (ParameterTensor& p : m.parameters) {
    const std::size_t n = element_count(p, c);
    p.values.resize(n);
    if (n > 0) std::memcpy(p.values.data(), c.take(n * sizeof(float)), n * sizeof(float));
  }
  const std::size_t rest = c.remaining();
  m.classifier = CategoryPredictor::deserialize(c.take(rest), rest);
  if (m.item_labels.size() != m.item_categories.size() || static_cast<std::size_t>(m.classifier->category_count()) != m.item_labels.size())
    c.corrupt("the classifier's classes disagree with its item labels");
  return m;
}

}  // namespace domainsearch::detail
