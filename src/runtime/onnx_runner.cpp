// ONNX models through OpenCV dnn (CPU). cv::dnn::Net::forward mutates the net, so calls are serialised.
#include <mutex>
#include <opencv2/dnn.hpp>

#include "domainsearch/error.hpp"
#include "runtime/model_runner.hpp"

namespace domainsearch::detail {
namespace {

class OnnxRunner final : public ModelRunner {
 public:
  OnnxRunner(const ModelManifest& manifest, std::string fingerprint) : ModelRunner(manifest, std::move(fingerprint)) {
    try {
      net_ = cv::dnn::readNetFromONNX(manifest.file);
    } catch (const cv::Exception& e) {
      throw Error(Status::ModelMismatch, manifest.file + ": not a loadable ONNX model (" + e.msg + ")");
    }
    if (net_.empty()) throw Error(Status::ModelMismatch, manifest.file + ": not a loadable ONNX model");
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    output_names_ = net_.getUnconnectedOutLayersNames();
  }

  std::vector<Tensor> run(const Tensor& input, const std::vector<std::string>& roles) const override {
    std::vector<cv::String> names;
    for (const std::string& role : roles) names.push_back(output_name(role));
    std::vector<int> dims(input.shape.begin(), input.shape.end());
    const cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, const_cast<float*>(input.data.data()));
    std::vector<cv::Mat> outs;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      net_.setInput(blob);
      net_.forward(outs, names);
    } catch (const cv::Exception& e) {
      throw Error(Status::ModelMismatch, manifest().file + ": forward failed (" + e.msg + ")");
    }
    std::vector<Tensor> result;
    for (const cv::Mat& m : outs) {
      Tensor t;
      for (int i = 0; i < m.dims; ++i) t.shape.push_back(m.size[i]);
      const cv::Mat f = m.isContinuous() ? m : m.clone();
      t.data.assign(f.ptr<float>(), f.ptr<float>() + f.total());
      result.push_back(std::move(t));
    }
    return result;
  }

  std::string device() const override { return "cpu"; }

  std::shared_ptr<const ModelRunner> with_parameters(const std::vector<ParameterTensor>&, std::string) const override {
    throw Error(Status::InvalidArgument, manifest().file + ": an ONNX model cannot take fine-tuned weights (use its TorchScript form)");
  }

 private:
  std::string output_name(const std::string& role) const {
    const OutputRef& ref = manifest().output(role);
    if (!ref.name.empty()) {
      for (const auto& n : output_names_)
        if (n == ref.name) return n;
      throw Error(Status::ModelMismatch, manifest().file + ": has no output named \"" + ref.name + "\" (for \"" + role + "\")");
    }
    if (ref.index < 0 || ref.index >= static_cast<int>(output_names_.size()))
      throw Error(Status::ModelMismatch, manifest().file + ": output index " + std::to_string(ref.index) + " out of range");
    return output_names_[static_cast<std::size_t>(ref.index)];
  }

  mutable std::mutex mutex_;
  mutable cv::dnn::Net net_;
  std::vector<cv::String> output_names_;
};

}  // namespace

std::shared_ptr<const ModelRunner> load_onnx(const ModelManifest& manifest, const RuntimeOptions& options, std::string fingerprint) {
  if (options.device != "cpu" && options.device != "auto")
    throw Error(Status::DeviceUnavailable, "device \"" + options.device + "\": the ONNX backend (OpenCV dnn) runs on the CPU only");
  cv::setNumThreads(resolve_threads(options.threads));
  return std::make_shared<OnnxRunner>(manifest, std::move(fingerprint));
}

}  // namespace domainsearch::detail
