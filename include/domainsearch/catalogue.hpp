#pragma once
// What goes into a catalogue (CatalogueEntry rows, read_catalogue_csv) and what indexing, adding and
// inspecting report (IndexingReport, AddOutcome, CatalogueInfo). Plain values; read_catalogue_csv is reentrant.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domainsearch/export.hpp"

namespace domainsearch {

/// One catalogue entry to index from a file.
struct CatalogueEntry {
  std::string path;      ///< image file (UTF-8)
  std::string label;     ///< item label (SKU, class name...)
  std::string category;  ///< category name
  std::optional<std::uint64_t> key;  ///< default: a 64-bit hash of `path`
};

struct IndexingFailure {
  std::string path;
  std::string reason;
};

struct IndexingReport {
  std::size_t added = 0;
  std::size_t skipped_existing = 0;
  std::vector<IndexingFailure> failures;
  bool cancelled = false;
  double seconds = 0;
};

/// What a catalogue file holds (read without loading any model).
struct CatalogueInfo {
  std::size_t items = 0;
  int dimension = 0;
  std::vector<std::pair<std::string, std::size_t>> categories;  ///< name, item count
  bool has_category_head = false;
  bool has_embedding_adaptation = false;
  bool has_fine_tuned_backbone = false;
  int fine_tuned_first_stage = -1;                 ///< first trained stage (-1 without fine-tuning)
  std::vector<std::string> fine_tuned_parameters;  ///< names of the backbone parameters it replaces
  std::vector<std::string> fine_tuned_items;       ///< the item labels its classifier separates
  float fine_tuned_temperature = 0.0f;
  std::string backbone_sha256;
  std::string segmenter_sha256;  ///< empty when built without localisation
  std::string embedding_settings_json;
  std::string model_fingerprint;  ///< Pipeline::model_fingerprint() of the catalogue, computed from the file
  std::uint64_t file_bytes = 0;
};

/// Reads a catalogue manifest: a CSV whose header names a `path` column and the given label and
/// category columns (paths relative to the CSV's folder). Throws Io, or InvalidArgument naming a
/// missing column or a ragged row.
DS_API std::vector<CatalogueEntry> read_catalogue_csv(const std::string& csv_path, const std::string& label_column = "label",
                                                      const std::string& category_column = "category");

/// What an add tells besides success.
struct AddOutcome {
  /// The item's category is unknown to the trained category model (added after training): queries in
  /// the predicted category modes search that category too, until the model is trained again.
  bool untrained_category = false;
};

/// Progress of long work: return false to cancel (what is done so far stays).
using ProgressFn = std::function<bool(std::size_t done, std::size_t total)>;

}  // namespace domainsearch
