#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "domainsearch/error.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

std::array<float, 3> triple(const json& j, const char* field) {
  if (!j.contains(field)) return {};
  const auto v = j.at(field).get<std::vector<float>>();
  if (v.size() != 3) throw Error(Status::InvalidArgument, std::string("manifest: input.") + field + " needs 3 values");
  return {v[0], v[1], v[2]};
}

}  // namespace

ModelManifest ModelManifest::parse(const std::string& json_text, const std::string& base_dir) {
  ModelManifest m;
  try {
    const json j = json::parse(json_text);
    m.name = j.value("name", "");
    const std::string format = j.at("format").get<std::string>();
    if (format == "torchscript") m.format = ModelFormat::TorchScript;
    else if (format == "onnx") m.format = ModelFormat::Onnx;
    else throw Error(Status::InvalidArgument, "manifest: format must be \"torchscript\" or \"onnx\", got \"" + format + "\"");
    m.file = resolve(j.at("file").get<std::string>(), base_dir);
    m.sha256 = j.value("sha256", "");
    const json& in = j.at("input");
    m.input_width = in.at("width").get<int>();
    m.input_height = in.at("height").get<int>();
    if (m.input_width < 8 || m.input_height < 8 || m.input_width > 4096 || m.input_height > 4096)
      throw Error(Status::InvalidArgument, "manifest: input size must be within 8..4096");
    const std::string channels = in.value("channels", "rgb");
    if (channels != "rgb" && channels != "bgr") throw Error(Status::InvalidArgument, "manifest: input.channels must be rgb or bgr");
    m.input_bgr = channels == "bgr";
    m.input_trimap = in.value("trimap", false);
    const std::string norm = in.value("normalization", "scale_mean_std");
    if (norm == "scale_mean_std") m.normalization = InputNormalization::ScaleMeanStd;
    else if (norm == "max_mean_std") m.normalization = InputNormalization::MaxMeanStd;
    else throw Error(Status::InvalidArgument, "manifest: unknown input.normalization \"" + norm + "\"");
    m.scale = in.value("scale", 1.0f);
    m.mean = triple(in, "mean");
    m.std = in.contains("std") ? triple(in, "std") : std::array<float, 3>{1, 1, 1};
    for (float s : m.std)
      if (!(s > 0)) throw Error(Status::InvalidArgument, "manifest: input.std values must be positive");
    for (const auto& [role, ref] : j.at("outputs").items()) {
      OutputRef r;
      if (ref.is_number_integer()) r.index = ref.get<int>();
      else r.name = ref.get<std::string>();
      m.outputs[role] = r;
    }
    if (m.outputs.empty()) throw Error(Status::InvalidArgument, "manifest: outputs must name at least one output");
    m.feature_dim = j.value("feature_dim", 0);
    m.labels_file = resolve(j.value("labels", ""), base_dir);
    m.quantized_engine = j.value("quantized_engine", "");
    m.stages = j.value("stages", 0);
    if (m.stages < 0 || m.stages > 1000) throw Error(Status::InvalidArgument, "manifest: stages must be in 0..1000, got " + std::to_string(m.stages));
    if (m.stages > 0 && m.format != ModelFormat::TorchScript)
      throw Error(Status::InvalidArgument, "manifest: stages (a fine-tunable backbone) applies to TorchScript models only");
    if (!m.quantized_engine.empty() && m.format != ModelFormat::TorchScript)
      throw Error(Status::InvalidArgument, "manifest: quantized_engine applies to TorchScript models only");
  } catch (const json::exception& e) {
    throw Error(Status::InvalidArgument, std::string("manifest: ") + e.what());
  }
  return m;
}

ModelManifest ModelManifest::load(const std::string& manifest_path) {
  std::ifstream f(manifest_path);
  if (!f) throw Error(Status::Io, manifest_path + ": cannot open model manifest (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << f.rdbuf();
  try {
    return parse(text.str(), fs::path(manifest_path).parent_path().string());
  } catch (const Error& e) {
    throw Error(e.status(), manifest_path + ": " + e.what());
  }
}

const OutputRef& ModelManifest::output(const std::string& role) const {
  const auto it = outputs.find(role);
  if (it == outputs.end())
    throw Error(Status::InvalidArgument, "model " + name + " (" + file + "): its manifest declares no \"" + role + "\" output");
  return it->second;
}

std::vector<std::string> ModelManifest::read_labels() const {
  std::vector<std::string> labels;
  if (labels_file.empty()) return labels;
  std::ifstream f(labels_file);
  if (!f) throw Error(Status::Io, labels_file + ": cannot open labels file");
  for (std::string line; std::getline(f, line);) labels.push_back(line);
  return labels;
}

namespace {

// Incremental SHA-256 with lowercase hex output.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) throw Error(Status::Internal, "SHA-256 unavailable");
  }
  void update(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) (out += digits[digest[i] >> 4]) += digits[digest[i] & 15];
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string sha256_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(Status::Io, path + ": cannot open (" + std::strerror(errno) + ")");
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.update(buf.data(), static_cast<std::size_t>(f.gcount()));
  }
  if (f.bad()) throw Error(Status::Io, path + ": read error");
  return sha.hex();
}

std::string sha256_bytes(const void* data, std::size_t size) {
  Sha256 sha;
  sha.update(data, size);
  return sha.hex();
}

}  // namespace domainsearch
