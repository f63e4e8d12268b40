#pragma once
// Sharded catalogues, for catalogues past one machine's memory or indexing throughput: one catalogue
// split by key into N catalogue files (shards; shard i holds the keys with shard_of_key(key, N) == i),
// all built with one trained model (equal Pipeline::model_fingerprint()), and searched exactly: each
// shard answers the query with shard_query_options(), and merge_shard_responses() turns their answers
// into the one a single catalogue holding every item gives (same keys, distances, order, ties by key,
// categories searched, rerank and match verdict), up to float rounding between two items whose
// distances tie to the last bits at the depth boundary (the index preselects with a BLAS kernel and
// refines exactly; a shard's kernel rounding can differ from the whole catalogue's there).
//
// On disk a shard set is a folder: template.dscat (the trained model, every category, no items), the
// shard files shard-00000-of-0000N.dscat..., and shards.json (ShardSetManifest). The command
// (`domainsearch index --shards N`, `domainsearch query --catalogue FOLDER`) and Python's
// domainsearch.dask write and read the same layout.
//
// Training happens once, before or across the shards: fine-tuning on the template before any shard
// embeds (embeddings depend on it); the category head and adaptation with
// train_category_model_on_shards() after, then installed into every shard
// (Pipeline::install_category_model).

#include <cstdint>
#include <string>
#include <vector>

#include "domainsearch/export.hpp"
#include "domainsearch/pipeline.hpp"

namespace domainsearch {

/// The shard that owns `key` among `shards` (key mod shards). Throws InvalidArgument for 0 shards.
DS_API std::size_t shard_of_key(std::uint64_t key, std::size_t shards);

/// What each shard is asked so that merge_shard_responses() is exact: no rerank (it needs the merged
/// list) and k = the number of nearest results the reranker reads (max(k, rerank_depth) with rerank,
/// else k; for item answers at least 2, for the confidence's item margin); everything else
/// (category, filter, modes, one result per label) as given.
DS_API QueryOptions shard_query_options(const QueryOptions& options, const PipelineConfig& config);

/// Merges the shards' answers to shard_query_options(options, config), one per non-empty shard, into
/// the answer to `options` of one catalogue holding every item: results sorted by (distance, key), one
/// per label when asked, reranked with config's rerank settings, cut to k, and the no-match verdict
/// from config.match_distance and match_threshold (as one catalogue; when every shard found nothing,
/// the probability rule follows the shards' own verdicts). predicted/searched come from the first response (shards built from one
/// model agree on them); each stage's timing is the slowest shard's. Throws InvalidArgument for no responses.
DS_API QueryResponse merge_shard_responses(std::vector<QueryResponse> responses, const QueryOptions& options, const PipelineConfig& config);

/// shards.json: which files make a shard set. Paths are file names inside the set's folder.
struct DS_API ShardSetManifest {
  std::vector<std::string> shards;  ///< shard i's file; its index is the shard number
  std::string template_file = "template.dscat";
  std::string model_fingerprint;    ///< every shard's Pipeline::model_fingerprint()

  /// "shard-00002-of-00004.dscat" for i = 2, n = 4.
  static std::string shard_file_name(std::size_t i, std::size_t n);
  /// Reads folder/shards.json. Throws Io when absent or unreadable, Corrupt when malformed or when a
  /// file name is not a plain name inside the folder.
  static ShardSetManifest load(const std::string& folder);
  /// Writes folder/shards.json atomically (temporary file, then rename). Throws Io.
  void save(const std::string& folder) const;
  /// The shard files as paths (folder joined with each name).
  std::vector<std::string> shard_paths(const std::string& folder) const;
};

/// Trains `trained`'s category head (and adaptation, with config().adapt_embedding) on the stored
/// embeddings of every item of the shard files, as Pipeline::train_categories() does for one catalogue
/// (the shards are opened one at a time with trained.config()). `trained` is the set's template: no
/// items of its own, every category, the same model fingerprint as each shard (ModelMismatch
/// otherwise). Throws InvalidArgument with fine-tuning enabled (it runs on the template before the
/// shards embed) or training_views > 0 (augmented views need the images, not the stored embeddings).
DS_API TrainingReport train_category_model_on_shards(Pipeline& trained, const std::vector<std::string>& shard_paths);

/// A shard set searched in one process: every shard open (each with its own models), a query embedded
/// once by the first shard and searched in all of them at once, answers merged exactly.
/// Thread-safety: query*() may run concurrently; the shards are Pipelines (see pipeline.hpp).
class DS_API ShardedCatalogue {
 public:
  /// Opens the shard files with `config` (as Pipeline::open). Throws ModelMismatch naming a shard whose
  /// model fingerprint differs from the first's, InvalidArgument for an empty list.
  static ShardedCatalogue open(const std::vector<std::string>& shard_paths, const PipelineConfig& config);
  /// Opens the shard set in `folder` (shards.json), checking the recorded fingerprint too.
  static ShardedCatalogue open_folder(const std::string& folder, const PipelineConfig& config);

  /// Items in all shards.
  std::size_t size() const;
  const std::vector<Pipeline>& shards() const noexcept { return shards_; }
  /// Embeds `image` once and searches every shard. Throws NotFound when every shard is empty.
  QueryResponse query(const Image& image, const QueryOptions& options = {}) const;
  /// Searches every shard for an analysis made by shards().front().analyze().
  QueryResponse query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options = {}) const;

 private:
  explicit ShardedCatalogue(std::vector<Pipeline> shards) : shards_(std::move(shards)) {}
  std::vector<Pipeline> shards_;
};

}  // namespace domainsearch
