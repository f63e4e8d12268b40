#pragma once
// Internal: the catalogue file (docs/format.md, kind "DSCATLG"): its sections as data, read and written
// without any model. CONF (JSON: the embedding settings, the models' SHA-256, the backbone's input),
// SRCS (item sources), HEAD / ADPT / FTUN (serialised category head, embedding adaptation, fine-tuned
// network) and the Index's sections. The model fingerprint is computed here, once, for a catalogue in
// memory (Pipeline::model_fingerprint), its file (CatalogueInfo) and the Dask layer (through inspect).
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "domainsearch/index.hpp"
#include "domainsearch/catalogue.hpp"
#include "domainsearch/model.hpp"
#include "io/section_file.hpp"

namespace domainsearch::detail {

/// Everything a catalogue file holds beside its Index.
struct CatalogueSections {
  nlohmann::json embedding = nlohmann::json::object();  ///< the settings the embeddings were made with (embedding_settings)
  std::string backbone_sha256, segmenter_sha256;         ///< segmenter: empty without localisation
  nlohmann::json backbone_input;                         ///< the backbone's input (size, normalisation); null in old files
  std::vector<std::uint8_t> head, adaptation, fine_tuned;  ///< serialised models; empty: absent
  std::unordered_map<std::uint64_t, std::string> sources;  ///< key -> the image file it was indexed from

  /// SHA-256 over everything that decides how the catalogue embeds and categorises, and its category
  /// table: equal fingerprints make embeddings and category ids comparable.
  std::string model_fingerprint(const std::vector<std::string>& categories) const;
};

/// What the backbone's manifest feeds it, as CONF records it.
nlohmann::json backbone_input(const ModelManifest& backbone);

/// Writes the file atomically; over the file `origin` names, only when it is still that version
/// (Conflict otherwise). Returns the written file's origin.
FileOrigin write_catalogue_file(const std::string& path, const CatalogueSections& sections, const Index& index,
                                const std::optional<FileOrigin>& origin);

struct StoredCatalogue {
  CatalogueSections sections;
  Index index;
  FileOrigin origin;
};
/// Reads a catalogue file; Io, Corrupt or FormatVersion naming the file and what is wrong.
StoredCatalogue read_catalogue_file(const std::string& path);
/// A summary of a catalogue file (Pipeline::inspect).
CatalogueInfo inspect_catalogue_file(const std::string& path);

/// SHA-256 (hex) of bytes, or "" for none: how the fingerprint writes an absent part.
std::string sha256_or_empty(const std::vector<std::uint8_t>& bytes);

}  // namespace domainsearch::detail
