#include "catalogue/catalogue.hpp"

#include <filesystem>

#include "domainsearch/error.hpp"
#include "index/index_io.hpp"
#include "io/file_safety.hpp"
#include "io/json_text.hpp"
#include "io/section_file.hpp"
#include "config/config_json.hpp"

namespace domainsearch::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const FileKind kCatalogueKind{{'D', 'S', 'C', 'A', 'T', 'L', 'G', '\0'}, 1, 0, "catalogue"};
constexpr std::uint64_t kMaxJsonSection = 256ull << 20;

// What the backbone is fed, as CONF records it: the embeddings of one network at another input size or
// normalisation are not comparable.
json backbone_input(const ModelManifest& m) {
  return {{"width", m.input_width}, {"height", m.input_height}, {"bgr", m.input_bgr}, {"normalization", static_cast<int>(m.normalization)},
          {"scale", m.scale}, {"mean", m.mean}, {"std", m.std}};
}

// Not JSON, nested deeper than kMaxJsonDepth or with a key twice: Corrupt naming the file and section.
json read_json_section(const SectionReader& r, SectionTag tag) {
  const std::vector<std::uint8_t> bytes = r.read(tag, kMaxJsonSection);
  const char* text = reinterpret_cast<const char*>(bytes.data());
  return parse_json(text, text + bytes.size(), r.path() + ": " + std::string(tag.data(), 4) + " section", Status::Corrupt);
}

// Runs f, which reads a catalogue's JSON sections: content of the wrong type (with valid checksums) is
// Corrupt naming the file, not a raw JSON exception.
template <typename F>
auto with_json_checked(const std::string& path, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw Error(Status::Corrupt, path + ": a catalogue section holds unexpected JSON (" + e.what() + ")");
  }
}

// Writes j as a section. Strings were checked for UTF-8 where they entered the catalogue; should one
// still not be, the save fails naming the file and the section, not with a raw JSON exception.
void write_json_section(SectionWriter& w, const std::string& path, SectionTag tag, const json& j) {
  std::string text;
  try {
    text = j.dump();
  } catch (const json::exception& e) {
    throw Error(Status::InvalidArgument, path + ": cannot save the " + std::string(tag.data(), 4) +
                                             " section: a name or path in it is not valid UTF-8 (" + e.what() + ")");
  }
  w.add_section(tag, text.data(), text.size());
}

}  // namespace

std::string sha256_or_empty(const std::vector<std::uint8_t>& bytes) { return bytes.empty() ? "" : sha256_bytes(bytes.data(), bytes.size()); }

std::string Catalogue::fingerprint_of(const std::string& backbone, const std::string& segmenter, const std::string& fine_tuned,
                                      const std::string& head, const std::string& adaptation, const std::string& embedding_settings_json,
                                      const std::vector<std::string>& categories) {
  const std::string text = json{{"backbone", backbone}, {"segmenter", segmenter}, {"fine_tuned", fine_tuned}, {"head", head},
                                {"adaptation", adaptation}, {"embedding", embedding_settings_json}, {"categories", categories}}
                               .dump();
  return sha256_bytes(text.data(), text.size());
}

void Catalogue::save(const std::string& path) {
  const std::lock_guard<std::mutex> writing(writer_);
  std::shared_lock<std::shared_mutex> lock(mutex_);
  Catalogue& m = *this;
  json conf = {{"embedding", embedding_settings(m.config_)},
               {"backbone_sha256", m.file_extractor_->fingerprint()},
               {"backbone_input", backbone_input(m.file_extractor_->manifest())},
               {"segmenter_sha256", m.localizer_ ? m.localizer_->fingerprint() : ""},
               {"dimension", m.extractor_->dimension()}};
  if (m.fine_tuned_) conf["fine_tuned_sha256"] = sha256_bytes(m.fine_tuned_bytes_.data(), m.fine_tuned_bytes_.size());
  json srcs = json::array();
  for (const auto& [key, source] : m.sources_) srcs.push_back({key, source});
  SectionWriter writer(path, kCatalogueKind, expected_version(m.file_origin_, path));
  write_json_section(writer, path, tag("CONF"), conf);
  write_json_section(writer, path, tag("SRCS"), srcs);
  if (m.head_) {
    const std::vector<std::uint8_t> head = m.head_->serialize();
    writer.add_section(tag("HEAD"), head.data(), head.size());
  }
  if (m.adaptation_) {
    const std::vector<std::uint8_t> adaptation = m.adaptation_->serialize();
    writer.add_section(tag("ADPT"), adaptation.data(), adaptation.size());
  }
  if (m.fine_tuned_) writer.add_section(tag("FTUN"), m.fine_tuned_bytes_.data(), m.fine_tuned_bytes_.size());
  IndexIo::write(*m.index_, writer);
  writer.commit();
  m.file_origin_ = FileOrigin{canonical_file_path(path), writer.version()};
}

std::unique_ptr<Catalogue> Catalogue::open(const std::string& catalogue_path, PipelineConfig config) {
  return with_json_checked(catalogue_path, [&] {
    const SectionReader reader(catalogue_path, kCatalogueKind);
    const json conf = read_json_section(reader, tag("CONF"));
    try {
      apply_embedding_settings(conf.at("embedding"), config);
    } catch (const std::exception& e) {  // missing, or settings this build cannot take: not a catalogue it wrote
      throw Error(Status::Corrupt, catalogue_path + ": malformed CONF section (" + e.what() + ")");
    }
    auto impl = std::make_unique<Catalogue>(std::move(config));
    const auto check = [&](const char* what, const std::string& expected, const std::string& actual) {
      if (expected != actual)
        throw Error(Status::ModelMismatch, catalogue_path + ": built with a " + what + " of SHA-256 " + expected.substr(0, 16) +
                                               "..., but the configured one is " + actual.substr(0, 16) + "...; its embeddings would not be comparable");
    };
    check("backbone", conf.value("backbone_sha256", ""), impl->file_extractor_->fingerprint());
    // The same network fed another input size or normalisation embeds differently (catalogues written
    // before this key was recorded are not checked).
    const json input = backbone_input(impl->file_extractor_->manifest());
    if (conf.contains("backbone_input") && conf.at("backbone_input") != input)
      throw Error(Status::ModelMismatch, catalogue_path + ": embedded with the backbone's input " + conf.at("backbone_input").dump() +
                                             ", but the configured manifest feeds " + input.dump() +
                                             "; its embeddings would not be comparable: index the catalogue again with this manifest");
    if (reader.has(tag("FTUN"))) {
      std::vector<std::uint8_t> bytes = reader.read(tag("FTUN"), reader.length(tag("FTUN")));
      if (sha256_bytes(bytes.data(), bytes.size()) != conf.value("fine_tuned_sha256", ""))
        throw Error(Status::Corrupt, catalogue_path + ": the fine-tuned weights (FTUN) do not match the fingerprint recorded in CONF");
      FineTunedModel model = FineTunedModel::deserialize(bytes.data(), bytes.size(), catalogue_path);
      std::shared_ptr<const FeatureExtractor> embedder = impl->fine_tuned_extractor(model, bytes);
      impl->install_fine_tuned(std::move(embedder), std::move(model), std::move(bytes));
    }
    if (impl->localizer_) check("segmenter", conf.value("segmenter_sha256", ""), impl->localizer_->fingerprint());
    Index index = IndexIo::read(reader);
    if (index.dimension() != impl->extractor_->dimension())
      throw Error(Status::ModelMismatch, catalogue_path + ": stores " + std::to_string(index.dimension()) + "-d embeddings, the backbone makes " +
                                             std::to_string(impl->extractor_->dimension()));
    impl->index_ = std::make_unique<Index>(std::move(index));
    impl->file_origin_ = reader.origin();
    if (reader.has(tag("HEAD"))) {
      const auto bytes = reader.read(tag("HEAD"), reader.length(tag("HEAD")));
      impl->head_ = CategoryPredictor::deserialize(bytes.data(), bytes.size());
      if (impl->head_->dimension() != impl->extractor_->dimension())
        throw Error(Status::Corrupt, catalogue_path + ": category head dimension disagrees with the embeddings");
      if (static_cast<std::size_t>(impl->head_->category_count()) > impl->index_->category_count())
        throw Error(Status::Corrupt, catalogue_path + ": the category head predicts " + std::to_string(impl->head_->category_count()) +
                                         " categories, but the catalogue defines " + std::to_string(impl->index_->category_count()));
    }
    if (reader.has(tag("ADPT"))) {
      const auto bytes = reader.read(tag("ADPT"), reader.length(tag("ADPT")));
      impl->adaptation_ = CategoryPredictor::deserialize(bytes.data(), bytes.size());
      if (impl->adaptation_->dimension() != impl->extractor_->dimension())
        throw Error(Status::Corrupt, catalogue_path + ": embedding adaptation dimension disagrees with the embeddings");
      impl->adapted_ = impl->project(*impl->adaptation_);
    }
    for (const json& pair : read_json_section(reader, tag("SRCS")))
      impl->sources_[json_integer<std::uint64_t>(pair.at(0), catalogue_path + ": SRCS key", Status::Corrupt)] = pair.at(1).get<std::string>();
    return impl;
  });
}

CatalogueInfo Catalogue::inspect(const std::string& catalogue_path) {
  return with_json_checked(catalogue_path, [&] {
    const SectionReader reader(catalogue_path, kCatalogueKind);
    const json conf = read_json_section(reader, tag("CONF"));
    const Index index = IndexIo::read(reader);
    CatalogueInfo info;
    info.items = index.size();
    info.dimension = index.dimension();
    for (std::size_t c = 0; c < index.category_count(); ++c)
      info.categories.emplace_back(index.category_name(static_cast<std::int32_t>(c)), index.size(static_cast<std::int32_t>(c)));
    info.has_category_head = reader.has(tag("HEAD"));
    info.has_embedding_adaptation = reader.has(tag("ADPT"));
    info.has_fine_tuned_backbone = reader.has(tag("FTUN"));
    if (info.has_fine_tuned_backbone) {
      const std::vector<std::uint8_t> bytes = reader.read(tag("FTUN"), reader.length(tag("FTUN")));
      const FineTunedModel model = FineTunedModel::deserialize(bytes.data(), bytes.size(), catalogue_path);
      info.fine_tuned_first_stage = model.first_stage;
      for (const ParameterTensor& p : model.parameters) info.fine_tuned_parameters.push_back(p.name);
      info.fine_tuned_items = model.item_labels;
      info.fine_tuned_temperature = model.temperature;
    }
    info.backbone_sha256 = conf.value("backbone_sha256", "");
    info.segmenter_sha256 = conf.value("segmenter_sha256", "");
    info.embedding_settings_json = conf.value("embedding", json::object()).dump();
    const auto section_sha = [&](SectionTag t) { return reader.has(t) ? sha256_or_empty(reader.read(t, reader.length(t))) : ""; };
    info.model_fingerprint = fingerprint_of(info.backbone_sha256, info.segmenter_sha256, conf.value("fine_tuned_sha256", ""), section_sha(tag("HEAD")),
                                            section_sha(tag("ADPT")), info.embedding_settings_json, index.category_names());
    info.file_bytes = fs::file_size(catalogue_path);
    return info;
  });
}

}  // namespace domainsearch::detail
