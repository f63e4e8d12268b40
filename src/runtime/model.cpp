#include <openssl/evp.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <limits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include <unistd.h>

#include "domainsearch/error.hpp"
#include "domainsearch/model.hpp"
#include "io/json_text.hpp"
#include "io/regular_file.hpp"

namespace domainsearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void refuse(const std::string& message) { throw Error(Status::InvalidArgument, "manifest: " + message); }

// Refuses keys outside `allowed` (a misspelt "sha265" must not pass as "no digest").
void check_keys(const json& j, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!j.is_object()) refuse(where + " must be a JSON object, got " + j.dump());
  for (const auto& item : j.items()) {
    bool known = false;
    std::string names;
    for (const char* name : allowed) known |= item.key() == name, names += std::string(names.empty() ? "" : ", ") + name;
    if (!known) refuse("unknown key \"" + item.key() + "\" in " + where + " (allowed: " + names + ")");
  }
}

// A string member; `path` names it in messages ("input.channels"). Absent: `fallback`, or an error
// when `fallback` is null.
std::string text(const json& j, const char* key, const std::string& path, const char* fallback) {
  if (!j.contains(key)) {
    if (fallback == nullptr) refuse("\"" + path + "\" is required");
    return fallback;
  }
  if (!j[key].is_string()) refuse("\"" + path + "\" must be a string, got " + j[key].dump());
  return j[key].get<std::string>();
}

// An integer member in lo..hi (absent: fallback); 224.5 or "224" is refused, not truncated.
int integer(const json& j, const char* key, const std::string& path, int fallback, int lo, int hi) {
  if (!j.contains(key)) return fallback;
  const json& v = j[key];
  bool in = false;  // read exactly: neither a negative nor a huge value wraps into range
  if (v.is_number_unsigned()) in = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi) && static_cast<std::int64_t>(v.get<std::uint64_t>()) >= lo;
  else if (v.is_number_integer()) in = v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi;
  if (!in)
    refuse("\"" + path + "\" must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + v.dump());
  return v.get<int>();
}

// The required digest: 64 hex digits, either case; kept lowercase (as sha256_file writes it).
std::string digest(const json& j) {
  if (!j.contains("sha256"))
    refuse("\"sha256\" is required: the model file's SHA-256 as 64 hex digits (sha256sum FILE), checked at load");
  std::string d = text(j, "sha256", "sha256", "");
  bool hex = d.size() == 64;
  for (char& c : d) {
    hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!hex) refuse("\"sha256\" must be 64 hex digits, got " + j["sha256"].dump());
  return d;
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// A number a float holds (JSON numbers are finite; 1e300 is not a float).
bool is_float(const json& v) { return v.is_number() && std::abs(v.get<double>()) <= std::numeric_limits<float>::max(); }

std::array<float, 3> triple(const json& j, const char* field, std::array<float, 3> fallback) {
  if (!j.contains(field)) return fallback;
  const json& v = j[field];
  if (!v.is_array() || v.size() != 3 || !is_float(v[0]) || !is_float(v[1]) || !is_float(v[2]))
    refuse(std::string("\"input.") + field + "\" needs 3 numbers, got " + v.dump());
  return {v[0].get<float>(), v[1].get<float>(), v[2].get<float>()};
}

void parse_input(const json& in, ModelManifest& m) {
  check_keys(in, "\"input\"", {"width", "height", "channels", "normalization", "scale", "mean", "std", "trimap"});
  if (!in.contains("width") || !in.contains("height")) refuse("\"input.width\" and \"input.height\" are required");
  m.input_width = integer(in, "width", "input.width", 0, 8, 4096);
  m.input_height = integer(in, "height", "input.height", 0, 8, 4096);
  const std::string channels = text(in, "channels", "input.channels", "rgb");
  if (channels != "rgb" && channels != "bgr") refuse("\"input.channels\" must be rgb or bgr, got \"" + channels + "\"");
  m.input_bgr = channels == "bgr";
  if (in.contains("trimap")) {
    if (!in["trimap"].is_boolean()) refuse("\"input.trimap\" must be true or false, got " + in["trimap"].dump());
    m.input_trimap = in["trimap"].get<bool>();
  }
  const std::string norm = text(in, "normalization", "input.normalization", "scale_mean_std");
  if (norm == "scale_mean_std") m.normalization = InputNormalization::ScaleMeanStd;
  else if (norm == "max_mean_std") m.normalization = InputNormalization::MaxMeanStd;
  else refuse("\"input.normalization\" must be scale_mean_std or max_mean_std, got \"" + norm + "\"");
  if (in.contains("scale")) {
    if (!is_float(in["scale"]) || !(in["scale"].get<double>() > 0)) refuse("\"input.scale\" must be a positive number, got " + in["scale"].dump());
    m.scale = in["scale"].get<float>();
  }
  m.mean = triple(in, "mean", {0, 0, 0});
  m.std = triple(in, "std", {1, 1, 1});
  for (float s : m.std)
    if (!(s > 0)) refuse("\"input.std\" values must be positive");
}

// "outputs" maps free role names to an output index (integer) or name (string).
void parse_outputs(const json& outputs, ModelManifest& m) {
  if (!outputs.is_object() || outputs.empty()) refuse("\"outputs\" must name at least one output, e.g. {\"features\": 0}");
  for (const auto& [role, ref] : outputs.items()) {
    OutputRef r;
    if (ref.is_number_integer() && ref.get<std::int64_t>() >= 0 && ref.get<std::int64_t>() <= 1000) r.index = ref.get<int>();
    else if (ref.is_string() && !ref.get<std::string>().empty()) r.name = ref.get<std::string>();
    else refuse("\"outputs." + role + "\" must be an output index (0..1000) or name, got " + ref.dump());
    m.outputs[role] = r;
  }
}

}  // namespace

ModelManifest ModelManifest::parse(const std::string& json_text, const std::string& base_dir) {
  ModelManifest m;
  try {
    const json j = detail::parse_json(json_text, "manifest", Status::InvalidArgument);  // bounded depth, no duplicate key
    check_keys(j, "the manifest", {"name", "format", "file", "sha256", "input", "outputs", "feature_dim", "labels", "quantized_engine", "stages", "memory_format"});
    m.name = text(j, "name", "name", "");
    const std::string format = text(j, "format", "format", nullptr);
    if (format == "torchscript") m.format = ModelFormat::TorchScript;
    else if (format == "onnx") m.format = ModelFormat::Onnx;
    else refuse("\"format\" must be \"torchscript\" or \"onnx\", got \"" + format + "\"");
    m.file = resolve(text(j, "file", "file", nullptr), base_dir);
    m.sha256 = digest(j);
    if (!j.contains("input")) refuse("\"input\" is required");
    parse_input(j["input"], m);
    if (!j.contains("outputs")) refuse("\"outputs\" is required");
    parse_outputs(j["outputs"], m);
    m.feature_dim = integer(j, "feature_dim", "feature_dim", 0, 0, 1 << 20);
    m.labels_file = resolve(text(j, "labels", "labels", ""), base_dir);
    m.quantized_engine = text(j, "quantized_engine", "quantized_engine", "");
    m.stages = integer(j, "stages", "stages", 0, 0, 1000);
    if (m.stages > 0 && m.format != ModelFormat::TorchScript) refuse("\"stages\" (a fine-tunable backbone) applies to TorchScript models only");
    const std::string memory_format = text(j, "memory_format", "memory_format", "contiguous");
    if (memory_format != "contiguous" && memory_format != "channels_last")
      refuse("\"memory_format\" must be contiguous or channels_last, got \"" + memory_format + "\"");
    m.channels_last = memory_format == "channels_last";
    if (m.channels_last && m.format != ModelFormat::TorchScript) refuse("\"memory_format\" applies to TorchScript models only");
    if (m.channels_last && !m.quantized_engine.empty())
      refuse("\"memory_format\" applies to float models only (an int8 model's packed weights keep their own layout)");
    if (!m.quantized_engine.empty() && m.format != ModelFormat::TorchScript) refuse("\"quantized_engine\" applies to TorchScript models only");
  } catch (const json::exception& e) {
    refuse(e.what());
  }
  return m;
}

ModelManifest ModelManifest::load(const std::string& manifest_path) {
  // A regular file only (a FIFO or a device is refused at once: Io), of at most kMaxTextFileBytes.
  const std::string text = detail::read_text_file(manifest_path, detail::kMaxTextFileBytes, "model manifest");
  try {
    return parse(text, fs::path(manifest_path).parent_path().string());
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
  // A regular file only, of at most kMaxTextFileBytes; one label a line (as std::getline splits: a last
  // line without '\n' counts, a final '\n' starts no empty label).
  const std::string text = detail::read_text_file(labels_file, detail::kMaxTextFileBytes, "labels file");
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t newline = text.find('\n', start);
    if (newline == std::string::npos) {
      labels.push_back(text.substr(start));
      break;
    }
    labels.push_back(text.substr(start, newline - start));
    start = newline + 1;
  }
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
  struct stat st {};
  const detail::UniqueFd fd = detail::open_regular_file(path, UINT64_MAX, "model file", st);  // a FIFO or device: Io, at once
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Status::Io, path + ": read error (" + std::strerror(errno) + ")");
    if (n == 0) break;
    sha.update(buf.data(), static_cast<std::size_t>(n));
  }
  return sha.hex();
}

std::string sha256_bytes(const void* data, std::size_t size) {
  Sha256 sha;
  sha.update(data, size);
  return sha.hex();
}

}  // namespace domainsearch
