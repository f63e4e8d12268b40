// Fine-tuning with LibTorch (with the TorchScript runner and the category-head trainer, one of the
// library translation units that include it).
#include "training/backbone_trainer.hpp"
#include "training/metric_loss.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <torch/torch.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "category/head_weights.hpp"
#include "domainsearch/error.hpp"
#include "image/opencv_bridge.hpp"
#include "training/augment.hpp"
#include "runtime/preprocess.hpp"
#include "runtime/torch_support.hpp"
#include "training/calibration.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The options' ranges are checked with the rest of the configuration (detail::validate, when the
// Pipeline is built); what only the backbone can tell is checked here.
void validate(const FineTuningJob& job) {
  const ModelManifest& m = *job.backbone;
  if (m.stages < 1)
    throw Error(Status::InvalidArgument, m.file + ": this backbone is not fine-tunable (its manifest declares no \"stages\"; see fine_tuning.hpp)");
  if (job.options.first_stage < 1 || job.options.first_stage >= m.stages)
    throw Error(Status::InvalidArgument, "fine_tuning.first_stage must be in 1.." + std::to_string(m.stages - 1) + " for " + m.file + " (" +
                                             std::to_string(m.stages) + " stages), got " + std::to_string(job.options.first_stage));
}

// Stage of a parameter named "stage<k>_...", or -1.
int stage_of(const std::string& name) {
  if (name.rfind("stage", 0) != 0) return -1;
  const char* digits = name.c_str() + 5;
  char* end = nullptr;
  const long k = std::strtol(digits, &end, 10);
  return end != digits && *end == '_' ? static_cast<int>(k) : -1;
}

// Float16 trunk outputs, one fixed-size row per view: anonymous memory up to a budget, an unlinked
// temporary file (paged by the kernel) beyond it.
class TrunkCache {
 public:
  TrunkCache(std::size_t rows, std::size_t row_halves, std::size_t memory_budget) : row_bytes_(row_halves * 2), bytes_(std::max<std::size_t>(rows * row_bytes_, 1)) {
    spilled_ = bytes_ > memory_budget;
    int fd = -1;
    if (spilled_) fd = temporary_file(bytes_);
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, spilled_ ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, fd, 0);
    if (fd >= 0) ::close(fd);
    if (p == MAP_FAILED) throw Error(Status::Io, "fine-tuning: cannot map a " + std::to_string(bytes_ >> 20) + " MiB trunk cache (" + std::strerror(errno) + ")");
    data_ = static_cast<std::uint8_t*>(p);
  }
  ~TrunkCache() { ::munmap(data_, bytes_); }
  TrunkCache(const TrunkCache&) = delete;
  TrunkCache& operator=(const TrunkCache&) = delete;

  void store(std::size_t row, const torch::Tensor& halves) { std::memcpy(data_ + row * row_bytes_, halves.data_ptr(), row_bytes_); }
  // Rows gathered into a float16 tensor {rows.size(), shape...}.
  torch::Tensor gather(const std::vector<std::size_t>& rows, const std::vector<std::int64_t>& shape) const {
    std::vector<std::int64_t> sizes{static_cast<std::int64_t>(rows.size())};
    sizes.insert(sizes.end(), shape.begin(), shape.end());
    torch::Tensor out = torch::empty(sizes, torch::kHalf);
    auto* dst = static_cast<std::uint8_t*>(out.data_ptr());
    for (std::size_t i = 0; i < rows.size(); ++i) std::memcpy(dst + i * row_bytes_, data_ + rows[i] * row_bytes_, row_bytes_);
    return out;
  }
  std::size_t bytes() const { return bytes_; }
  bool spilled() const { return spilled_; }

 private:
  static int temporary_file(std::size_t bytes) {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir && *dir ? dir : "/tmp") + "/domainsearch-trunk-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) throw Error(Status::Io, path + ": cannot create the trunk cache file (" + std::strerror(errno) + ")");
    ::unlink(path.c_str());
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      const int e = errno;
      ::close(fd);
      throw Error(Status::Io, "fine-tuning: cannot size a " + std::to_string(bytes >> 20) + " MiB trunk cache file (" + std::strerror(e) + ")");
    }
    return fd;
  }

  std::size_t row_bytes_, bytes_;
  bool spilled_ = false;
  std::uint8_t* data_ = nullptr;
};

// Reports progress with a rate-based ETA; throws Cancelled when the callback says stop.
class Progress {
 public:
  explicit Progress(const TrainingProgressFn& fn) : fn_(fn) {}
  void start(std::string stage, std::size_t total, int epoch = 0, int epochs = 0) {
    p_ = TrainingProgress{std::move(stage), epoch, epochs, 0, total, 0.0f, -1};
    started_ = Clock::now();
  }
  void advance(std::size_t done, float loss = 0.0f) {
    p_.done = done, p_.loss = loss;
    const double elapsed = seconds_since(started_);
    p_.eta_seconds = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(p_.total - done) : -1;
    if (fn_ && !fn_(p_)) throw Error(Status::Cancelled, "fine-tuning cancelled while " + p_.stage + ": the catalogue is unchanged");
  }

 private:
  const TrainingProgressFn& fn_;
  TrainingProgress p_;
  Clock::time_point started_;
};

// The photos' item labels as class ids, and a stratified calibration hold-out.
struct Classes {
  std::vector<std::string> labels, categories;  // per class
  std::vector<std::int64_t> of_photo;           // per photo
  std::vector<bool> calibration;                // per photo
  std::vector<bool> single_photo;               // per class: no photo to spare for calibration (one view is held out instead)
};

// Classes of photos[0..), calibration photos drawn from photos[0..held_out_from) only.
Classes classes_of(const std::vector<CatalogueEntry>& photos, std::size_t held_out_from, float fraction, std::mt19937_64& rng) {
  Classes c;
  std::map<std::string, std::int64_t> ids;
  std::map<std::int64_t, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const auto [it, added] = ids.emplace(photos[i].label, static_cast<std::int64_t>(c.labels.size()));
    if (added) c.labels.push_back(photos[i].label), c.categories.push_back(photos[i].category);
    c.of_photo.push_back(it->second);
    if (i < held_out_from) members[it->second].push_back(i);
  }
  if (c.labels.size() < 2) throw Error(Status::InvalidArgument, "fine-tuning needs photos of at least 2 item labels, got " + std::to_string(c.labels.size()));
  c.calibration.assign(photos.size(), false);
  for (auto& [label, rows] : members) {
    std::shuffle(rows.begin(), rows.end(), rng);
    const std::size_t held = std::min(rows.size() - 1, static_cast<std::size_t>(std::lround(fraction * static_cast<float>(rows.size()))));
    for (std::size_t j = 0; j < held && rows.size() > 1; ++j) c.calibration[rows[j]] = true;
  }
  // An item with at most one photo that may be held out (one studio image, say) cannot spare it.
  c.single_photo.assign(c.labels.size(), fraction > 0);
  for (const auto& [label, rows] : members) c.single_photo[static_cast<std::size_t>(label)] = fraction > 0 && rows.size() <= 1;
  return c;
}

class BackboneTrainer {
 public:
  BackboneTrainer(const FineTuningJob& job, const TrainingProgressFn& fn, FineTuningReport& report)
      : job_(job), o_(job.options), device_(resolve_torch_device(job.runtime.device)), progress_(fn), report_(report), rng_(o_.seed) {
    validate(job);
    torch::manual_seed(o_.seed);
    apply_torch_threads(job.runtime.threads);
    load_module();
  }

  FineTunedModel run() {
    sources_ = job_.photos;
    sources_.insert(sources_.end(), job_.studio.begin(), job_.studio.end());
    classes_ = classes_of(sources_, job_.photos.size(), o_.calibration_fraction, rng_);
    cache_trunks();
    train();
    FineTunedModel model = export_model(fit_temperature());
    report_.items = classes_.labels.size();
    return model;
  }

 private:
  void load_module() {
    const ModelManifest& m = *job_.backbone;
    try {
      module_ = torch::jit::load(m.file, device_);
    } catch (const c10::Error& e) {
      throw Error(Status::ModelMismatch, m.file + ": not a loadable TorchScript model (" + e.what_without_backtrace() + ")");
    }
    module_.to(torch::kFloat);
    apply_memory_format(module_, m);
    for (const char* method : {"normalize", "stages", "pool_and_classify"})
      if (!module_.find_method(method))
        throw Error(Status::ModelMismatch, m.file + ": declares \"stages\" but exports no " + method + "() method (see fine_tuning.hpp)");
    for (const auto& p : module_.named_parameters(/*recurse=*/true)) {
      const bool trained = stage_of(p.name) >= o_.first_stage;
      p.value.set_requires_grad(trained);
      if (trained) trained_.emplace_back(p.name, p.value);
    }
    if (trained_.empty())
      throw Error(Status::ModelMismatch, m.file + ": no parameter named stage<k>_... with k >= " + std::to_string(o_.first_stage) + " to fine-tune");
  }

  // A photo at the network's input size (views are made from it: cheaper than from the full photo).
  std::optional<Image> decode_small(const CatalogueEntry& photo) {
    const ModelManifest& m = *job_.backbone;
    try {
      const Image image = Image::decode_file(photo.path, job_.limits);
      Image small(m.input_width, m.input_height);
      resize_to(as_mat(image), m.input_width, m.input_height).copyTo(as_mat(small));
      return small;
    } catch (const Error&) {
      ++report_.skipped;
      return std::nullopt;
    }
  }

  torch::Tensor trunk_of(const std::vector<cv::Mat>& batch) {
    const Tensor input = make_input_batch(batch, *job_.backbone, job_.grayscale);
    torch::Tensor x = in_memory_format(torch::from_blob(const_cast<float*>(input.data.data()), input.shape, torch::kFloat).to(device_), *job_.backbone);
    x = module_.get_method("normalize")({x}).toTensor();
    return module_.get_method("stages")({x, std::int64_t{0}, static_cast<std::int64_t>(o_.first_stage)}).toTensor();
  }

  // Images per call of the frozen stages. On CPU small batches win: the early stages' activations of
  // a few images stay in the CPU cache (MobileNetV2 stages 0-10, channels-last, 2 cores, measured in
  // PyTorch: 18 ms per image at 2-4 images per call, 28 at 16, 38 at 64); a GPU wants large ones.
  std::size_t trunk_batch() const { return device_.is_cpu() ? 3 : 64; }

  // Runs the frozen stages once per readable photo and view (calibration photos get no augmented
  // views; an item of a single photo lends one augmented view to calibration instead), streaming:
  // only one batch of decoded images is held at a time.
  void cache_trunks() {
    const auto start = Clock::now();
    torch::NoGradGuard no_grad;
    const ModelManifest& m = *job_.backbone;
    const torch::Tensor probe = trunk_of({cv::Mat(m.input_height, m.input_width, CV_8UC3, cv::Scalar::all(128))});
    trunk_shape_.assign(probe.sizes().begin() + 1, probe.sizes().end());
    std::size_t rows = 0;
    for (std::size_t i = 0; i < sources_.size(); ++i) rows += 1 + augmented_count(i) + composite_count(i);
    cache_ = std::make_unique<TrunkCache>(rows, static_cast<std::size_t>(probe[0].numel()), o_.cache_memory_bytes);
    progress_.start("caching", sources_.size());
    std::vector<Image> views, backgrounds;
    std::vector<std::size_t> photo_of_view;
    std::vector<bool> held_out_view;  // per view: calibration material of an item with no held-out photo
    std::set<std::int64_t> classes_seen, lent_a_view;
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      if (std::optional<Image> image = decode_small(sources_[i])) {
        ++report_.photos;
        const std::int64_t c = classes_.of_photo[i];
        classes_seen.insert(c);
        // An item of a single photo lends its first augmented view to calibration.
        const bool lend = classes_.single_photo[static_cast<std::size_t>(c)] && augmented_count(i) > 0 && lent_a_view.insert(c).second;
        for (std::size_t v = 0; v < augmented_count(i); ++v)
          views.push_back(augmented_view(*image, rng_)), photo_of_view.push_back(i), held_out_view.push_back(lend && v == 0);
        for (std::size_t v = 0; v < composite_count(i) && !backgrounds.empty(); ++v)
          views.push_back(composite_view(*image, backgrounds[rng_() % backgrounds.size()], rng_).image), photo_of_view.push_back(i), held_out_view.push_back(false);
        if (i < job_.photos.size()) keep_background(*image, i, backgrounds);
        views.push_back(std::move(*image)), photo_of_view.push_back(i), held_out_view.push_back(false);
      }
      if (views.size() >= trunk_batch() || (i + 1 == sources_.size() && !views.empty())) store_views(views, photo_of_view, held_out_view);
      progress_.advance(i + 1);
    }
    if (classes_seen.size() < 2)
      throw Error(Status::InvalidArgument, "fine-tuning needs readable photos of at least 2 item labels, got " + std::to_string(classes_seen.size()));
    report_.views = training_rows_.size();
    report_.cache_bytes = cache_->bytes();
    report_.cache_spilled = cache_->spilled();
    report_.cache_seconds = seconds_since(start);
  }

  std::size_t augmented_count(std::size_t source) const { return classes_.calibration[source] ? 0 : static_cast<std::size_t>(o_.views); }
  std::size_t composite_count(std::size_t source) const { return source >= job_.photos.size() ? static_cast<std::size_t>(o_.composites) : 0; }

  // A uniform sample (reservoir) of at most 64 training photos: the composites' backgrounds.
  void keep_background(const Image& photo, std::size_t seen, std::vector<Image>& backgrounds) {
    constexpr std::size_t kPool = 64;
    if (backgrounds.size() < kPool) return backgrounds.push_back(photo);
    const std::size_t slot = rng_() % (seen + 1);
    if (slot < kPool) backgrounds[slot] = photo;
  }

  void store_views(std::vector<Image>& views, std::vector<std::size_t>& photo_of_view, std::vector<bool>& held_out_view) {
    std::vector<cv::Mat> batch;
    for (const Image& v : views) batch.push_back(as_mat(v));
    const torch::Tensor halves = trunk_of(batch).to(torch::kCPU, torch::kHalf).contiguous();
    for (std::size_t j = 0; j < views.size(); ++j) {
      const std::size_t row = row_class_.size();
      cache_->store(row, halves[static_cast<std::int64_t>(j)]);
      (classes_.calibration[photo_of_view[j]] || held_out_view[j] ? calibration_rows_ : training_rows_).push_back(row);
      row_class_.push_back(classes_.of_photo[photo_of_view[j]]);
    }
    views.clear(), photo_of_view.clear(), held_out_view.clear();
  }

  // L2-normalised features of cached trunk rows through the trained stages.
  torch::Tensor features(const std::vector<std::size_t>& rows) {
    const torch::Tensor x = in_memory_format(cache_->gather(rows, trunk_shape_).to(device_, torch::kFloat), *job_.backbone);
    const torch::Tensor y = module_.get_method("stages")({x, static_cast<std::int64_t>(o_.first_stage), static_cast<std::int64_t>(job_.backbone->stages)}).toTensor();
    const c10::IValue pooled = module_.get_method("pool_and_classify")({y});
    const torch::Tensor f = pooled.isTuple() ? pooled.toTupleRef().elements()[0].toTensor() : pooled.toTensor();
    return torch::nn::functional::normalize(f.flatten(1), torch::nn::functional::NormalizeFuncOptions().dim(1));
  }

  torch::Tensor logits(const torch::Tensor& unit_features) {
    const torch::Tensor w = torch::nn::functional::normalize(weight_, torch::nn::functional::NormalizeFuncOptions().dim(1));
    return o_.classifier_scale * torch::matmul(unit_features, w.t()) + bias_;
  }

  torch::Tensor targets(const std::vector<std::size_t>& rows) const {
    std::vector<std::int64_t> y;
    for (std::size_t r : rows) y.push_back(row_class_[r]);
    return torch::tensor(y, torch::kLong).to(device_);
  }

  // The classifier's cross-entropy, plus the weighted contrastive loss of the features when asked.
  torch::Tensor loss_of(const std::vector<std::size_t>& rows, const torch::nn::functional::CrossEntropyFuncOptions& options) {
    const torch::Tensor f = features(rows), y = targets(rows);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits(f), y, options);
    if (o_.metric_loss_weight <= 0) return loss;
    return loss + o_.metric_loss_weight * supervised_contrastive(f, y, o_.metric_temperature);
  }

  // One-cycle schedule (as PyTorch's OneCycleLR: 30% warm-up from peak/25, cosine down to peak/25e4).
  static double one_cycle(double peak, std::size_t step, std::size_t steps) {
    const double warm = 0.3 * static_cast<double>(steps), t = static_cast<double>(step);
    const double low = peak / 25, end = peak / 25e4;
    const auto cosine = [](double from, double to, double frac) { return to + (from - to) * (1 + std::cos(M_PI * frac)) / 2; };
    return t < warm ? cosine(low, peak, t / std::max(warm, 1.0)) : cosine(peak, end, (t - warm) / std::max(static_cast<double>(steps) - warm, 1.0));
  }

  void train() {
    const auto start = Clock::now();
    const std::int64_t classes = static_cast<std::int64_t>(classes_.labels.size());
    const std::int64_t dim = features({training_rows_.front()}).size(1);
    weight_ = (torch::randn({classes, dim}) * 0.01).to(device_).requires_grad_(true);
    bias_ = torch::zeros({classes}, device_).requires_grad_(true);
    std::vector<torch::Tensor> backbone;
    for (const auto& [name, value] : trained_) backbone.push_back(value);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(backbone, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o_.backbone_learning_rate).weight_decay(o_.weight_decay)));
    groups.emplace_back(std::vector<torch::Tensor>{weight_, bias_},
                        std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o_.classifier_learning_rate).weight_decay(o_.weight_decay)));
    torch::optim::AdamW optimizer(std::move(groups), torch::optim::AdamWOptions(o_.classifier_learning_rate));
    const std::size_t batch = static_cast<std::size_t>(o_.batch_size), per_epoch = (training_rows_.size() + batch - 1) / batch;
    const std::size_t steps = per_epoch * static_cast<std::size_t>(o_.epochs);
    const float peaks[2] = {o_.backbone_learning_rate, o_.classifier_learning_rate};
    const auto loss_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o_.label_smoothing);
    std::size_t step = 0;
    std::vector<std::size_t> order = training_rows_;
    for (int epoch = 1; epoch <= o_.epochs; ++epoch, ++report_.epochs) {
      std::shuffle(order.begin(), order.end(), rng_);
      const std::vector<std::size_t> epoch_rows =
          o_.rows_per_item > 1 ? in_class_runs(order, row_class_, static_cast<std::size_t>(o_.rows_per_item), rng_) : order;
      progress_.start("training", per_epoch, epoch, o_.epochs);
      double loss_sum = 0;
      for (std::size_t b = 0; b < per_epoch; ++b, ++step) {
        for (std::size_t g = 0; g < 2; ++g)
          static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[g].options()).lr(one_cycle(peaks[g], step, steps));
        const std::vector<std::size_t> rows(epoch_rows.begin() + static_cast<std::ptrdiff_t>(b * batch),
                                            epoch_rows.begin() + static_cast<std::ptrdiff_t>(std::min(epoch_rows.size(), (b + 1) * batch)));
        optimizer.zero_grad();
        const torch::Tensor loss = loss_of(rows, loss_options);
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>();
        report_.final_loss = static_cast<float>(loss_sum / static_cast<double>(b + 1));
        progress_.advance(b + 1, report_.final_loss);
      }
    }
    report_.training_seconds = seconds_since(start);
  }

  // The temperature of the held-out photos (calibration.hpp); 1 without held-out photos.
  float fit_temperature() {
    if (calibration_rows_.empty()) return 1.0f;
    torch::NoGradGuard no_grad;
    progress_.start("calibrating", 1);
    const torch::Tensor z = logits(features(calibration_rows_)).to(torch::kCPU, torch::kFloat).contiguous();
    const torch::Tensor y = targets(calibration_rows_).to(torch::kCPU, torch::kLong).contiguous();
    report_.calibration_accuracy = z.argmax(1).eq(y).to(torch::kFloat).mean().item<float>();
    const float temperature = detail::fit_temperature(std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + z.numel()),
                                                      std::vector<std::int64_t>(y.data_ptr<std::int64_t>(), y.data_ptr<std::int64_t>() + y.numel()),
                                                      static_cast<std::size_t>(z.size(1)));
    progress_.advance(1);
    return temperature;
  }

  FineTunedModel export_model(float temperature) {
    torch::NoGradGuard no_grad;
    FineTunedModel m;
    m.first_stage = o_.first_stage;
    m.temperature = temperature;
    m.item_labels = classes_.labels;
    m.item_categories = classes_.categories;
    for (const auto& [name, value] : trained_) m.parameters.push_back(to_parameter(name, value));
    if (!torch::isfinite(weight_).all().item<bool>() || !torch::isfinite(bias_).all().item<bool>() || !std::isfinite(temperature))
      throw Error(Status::InvalidArgument, "fine-tuning diverged: the item classifier's weights are not finite (lower "
                                           "fine_tuning.classifier_learning_rate or backbone_learning_rate); the catalogue is unchanged");
    const torch::Tensor unit = torch::nn::functional::normalize(weight_, torch::nn::functional::NormalizeFuncOptions().dim(1));
    m.classifier = CategoryPredictor::linear(static_cast<int>(weight_.size(1)), static_cast<int>(weight_.size(0)),
                                             to_parameter("", unit * (o_.classifier_scale / temperature)).values,
                                             to_parameter("", bias_ / temperature).values);
    report_.temperature = temperature;
    return m;
  }

  static ParameterTensor to_parameter(const std::string& name, const torch::Tensor& t) {
    const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    return {name, std::vector<std::int64_t>(c.sizes().begin(), c.sizes().end()), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
  }

  const FineTuningJob& job_;
  const FineTuningOptions& o_;
  std::vector<CatalogueEntry> sources_;  // job_.photos, then job_.studio
  torch::Device device_;
  Progress progress_;
  FineTuningReport& report_;
  std::mt19937_64 rng_;
  torch::jit::Module module_;
  std::vector<std::pair<std::string, torch::Tensor>> trained_;  // name, parameter
  Classes classes_;
  std::unique_ptr<TrunkCache> cache_;
  std::vector<std::int64_t> trunk_shape_;
  std::vector<std::size_t> training_rows_, calibration_rows_;
  std::vector<std::int64_t> row_class_;
  torch::Tensor weight_, bias_;
};

}  // namespace

FineTunedModel fine_tune_backbone(const FineTuningJob& job, const TrainingProgressFn& progress, FineTuningReport& report) {
  try {
    return BackboneTrainer(job, progress, report).run();
  } catch (const c10::Error& e) {
    throw Error(Status::Internal, job.backbone->file + ": fine-tuning failed in LibTorch (" + e.what_without_backtrace() + ")");
  }
}

}  // namespace domainsearch::detail
