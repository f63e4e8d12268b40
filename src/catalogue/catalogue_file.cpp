#include "catalogue/catalogue_file.hpp"

#include <filesystem>

#include "config/config_json.hpp"
#include "domainsearch/error.hpp"
#include "index/index_io.hpp"
#include "io/json_text.hpp"
#include "training/fine_tuned_model.hpp"

namespace domainsearch::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const FileKind kCatalogueKind{{'D', 'S', 'C', 'A', 'T', 'L', 'G', '\0'}, 1, 0, "catalogue"};
constexpr std::uint64_t kMaxJsonSection = 256ull << 20;

// Not JSON, nested deeper than kMaxJsonDepth or with a key twice: Corrupt naming the file and section.
json read_json_section(const SectionReader& r, SectionTag t) {
  const std::vector<std::uint8_t> bytes = r.read(t, kMaxJsonSection);
  const char* text = reinterpret_cast<const char*>(bytes.data());
  return parse_json(text, text + bytes.size(), r.path() + ": " + std::string(t.data(), 4) + " section", Status::Corrupt);
}

std::vector<std::uint8_t> read_optional(const SectionReader& r, SectionTag t) {
  return r.has(t) ? r.read(t, r.length(t)) : std::vector<std::uint8_t>{};
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
void write_json_section(SectionWriter& w, const std::string& path, SectionTag t, const json& j) {
  std::string text;
  try {
    text = j.dump();
  } catch (const json::exception& e) {
    throw Error(Status::InvalidArgument, path + ": cannot save the " + std::string(t.data(), 4) +
                                             " section: a name or path in it is not valid UTF-8 (" + e.what() + ")");
  }
  w.add_section(t, text.data(), text.size());
}

void add_optional(SectionWriter& w, SectionTag t, const std::vector<std::uint8_t>& bytes) {
  if (!bytes.empty()) w.add_section(t, bytes.data(), bytes.size());
}

CatalogueSections read_sections(const SectionReader& reader) {
  const std::string& path = reader.path();
  const json conf = read_json_section(reader, tag("CONF"));
  CatalogueSections s;
  if (!conf.contains("embedding") || !conf.at("embedding").is_object()) throw Error(Status::Corrupt, path + ": malformed CONF section (no embedding settings)");
  // As this build writes them (settings older files leave out take their defaults), so a file's
  // fingerprint equals that of the catalogue opened from it.
  try {
    PipelineConfig settings;
    apply_embedding_settings(conf.at("embedding"), settings);
    s.embedding = embedding_settings(settings);
  } catch (const std::exception& e) {  // settings this build cannot take: not a catalogue it wrote
    throw Error(Status::Corrupt, path + ": malformed CONF section (" + e.what() + ")");
  }
  s.backbone_sha256 = conf.value("backbone_sha256", "");
  s.segmenter_sha256 = conf.value("segmenter_sha256", "");
  s.backbone_input = conf.value("backbone_input", json());
  s.head = read_optional(reader, tag("HEAD"));
  s.adaptation = read_optional(reader, tag("ADPT"));
  s.fine_tuned = read_optional(reader, tag("FTUN"));
  if (sha256_or_empty(s.fine_tuned) != conf.value("fine_tuned_sha256", ""))
    throw Error(Status::Corrupt, path + ": the fine-tuned weights (FTUN) do not match the fingerprint recorded in CONF");
  for (const json& pair : read_json_section(reader, tag("SRCS")))
    s.sources[json_integer<std::uint64_t>(pair.at(0), path + ": SRCS key", Status::Corrupt)] = pair.at(1).get<std::string>();
  return s;
}

}  // namespace

std::string sha256_or_empty(const std::vector<std::uint8_t>& bytes) { return bytes.empty() ? "" : sha256_bytes(bytes.data(), bytes.size()); }

json backbone_input(const ModelManifest& m) {
  return {{"width", m.input_width}, {"height", m.input_height}, {"bgr", m.input_bgr}, {"normalization", static_cast<int>(m.normalization)},
          {"scale", m.scale}, {"mean", m.mean}, {"std", m.std}};
}

std::string CatalogueSections::model_fingerprint(const std::vector<std::string>& categories) const {
  const std::string text = json{{"backbone", backbone_sha256}, {"segmenter", segmenter_sha256}, {"fine_tuned", sha256_or_empty(fine_tuned)},
                                {"head", sha256_or_empty(head)}, {"adaptation", sha256_or_empty(adaptation)}, {"embedding", embedding.dump()},
                                {"categories", categories}}
                               .dump();
  return sha256_bytes(text.data(), text.size());
}

FileOrigin write_catalogue_file(const std::string& path, const CatalogueSections& s, const Index& index, const std::optional<FileOrigin>& origin) {
  json conf = {{"embedding", s.embedding}, {"backbone_sha256", s.backbone_sha256}, {"backbone_input", s.backbone_input},
               {"segmenter_sha256", s.segmenter_sha256}, {"dimension", index.dimension()}};
  if (!s.fine_tuned.empty()) conf["fine_tuned_sha256"] = sha256_or_empty(s.fine_tuned);
  json srcs = json::array();
  for (const auto& [key, source] : s.sources) srcs.push_back({key, source});
  SectionWriter writer(path, kCatalogueKind, expected_version(origin, path));
  write_json_section(writer, path, tag("CONF"), conf);
  write_json_section(writer, path, tag("SRCS"), srcs);
  add_optional(writer, tag("HEAD"), s.head);
  add_optional(writer, tag("ADPT"), s.adaptation);
  add_optional(writer, tag("FTUN"), s.fine_tuned);
  IndexIo::write(index, writer);
  writer.commit();
  return FileOrigin{canonical_file_path(path), writer.version()};
}

StoredCatalogue read_catalogue_file(const std::string& path) {
  return with_json_checked(path, [&] {
    const SectionReader reader(path, kCatalogueKind);
    CatalogueSections sections = read_sections(reader);
    return StoredCatalogue{std::move(sections), IndexIo::read(reader), reader.origin()};
  });
}

CatalogueInfo inspect_catalogue_file(const std::string& path) {
  const StoredCatalogue stored = read_catalogue_file(path);
  const CatalogueSections& s = stored.sections;
  const Index& index = stored.index;
  CatalogueInfo info;
  info.items = index.size();
  info.dimension = index.dimension();
  for (std::size_t c = 0; c < index.category_count(); ++c)
    info.categories.emplace_back(index.category_name(static_cast<std::int32_t>(c)), index.size(static_cast<std::int32_t>(c)));
  info.has_category_head = !s.head.empty();
  info.has_embedding_adaptation = !s.adaptation.empty();
  info.has_fine_tuned_backbone = !s.fine_tuned.empty();
  if (info.has_fine_tuned_backbone) {
    const FineTunedModel model = FineTunedModel::deserialize(s.fine_tuned.data(), s.fine_tuned.size(), path);
    info.fine_tuned_first_stage = model.first_stage;
    for (const ParameterTensor& p : model.parameters) info.fine_tuned_parameters.push_back(p.name);
    info.fine_tuned_items = model.item_labels;
    info.fine_tuned_temperature = model.temperature;
  }
  info.backbone_sha256 = s.backbone_sha256;
  info.segmenter_sha256 = s.segmenter_sha256;
  info.embedding_settings_json = s.embedding.dump();
  info.model_fingerprint = s.model_fingerprint(index.category_names());
  info.file_bytes = fs::file_size(path);
  return info;
}

}  // namespace domainsearch::detail
