#pragma once
// Index: exact (brute-force) Euclidean k-nearest-neighbour search over float32 embeddings,
// partitioned by category, with a uint64 key, an optional UTF-8 label and an optional ContourMask
// per item (the paper's offline catalogue store).
//
// Distances are squared Euclidean (||x - q||^2, as faiss IndexFlatL2 reports them); rankings equal
// those of the Euclidean distance. Results are sorted by (distance, key), so ties break
// deterministically towards the smaller key.
//
// Thread-safety: const methods (search, get, contains, size...) and save() may run concurrently from
// any number of threads (save is not const: it records which file version this index now matches);
// mutations (add, upsert, remove, add_category) are exclusive and wait for running searches and
// saves (std::shared_mutex). A KeyFilter runs under the shared lock: it must not call
// back into a mutating method of the same Index.
//
// Errors: domainsearch::Error. A failed mutation leaves the index unchanged (batches are validated
// whole before anything is inserted).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domainsearch/contour_mask.hpp"
#include "domainsearch/export.hpp"

namespace domainsearch {

namespace detail {
struct IndexData;  // src/index/index_impl.hpp
struct IndexIo;    // the catalogue file embeds an index's sections: src/index/index_io.hpp
}

/// One search result.
struct SearchHit {
  std::uint64_t key = 0;
  std::int32_t category = -1;
  float distance = 0.0f;  ///< squared Euclidean distance to the query
};

/// Everything stored for one key.
struct IndexItem {
  std::uint64_t key = 0;
  std::int32_t category = -1;
  std::string label;
  std::vector<float> embedding;
  std::optional<ContourMask> mask;
};

/// Returns true for keys that may appear in results.
using KeyFilter = std::function<bool(std::uint64_t key)>;

/// Items to insert in one call. Arrays are caller-owned and hold `count` entries (`embeddings`
/// holds count * dimension floats, row-major); `labels` and `masks` may be null.
struct ItemBatch {
  std::size_t count = 0;
  const std::uint64_t* keys = nullptr;
  const std::int32_t* categories = nullptr;
  const float* embeddings = nullptr;
  const std::string* labels = nullptr;
  const ContourMask* masks = nullptr;
};

class DS_API Index {
 public:
  /// An empty index of `dimension`-d embeddings (1 <= dimension <= 65536).
  explicit Index(int dimension);
  ~Index();
  Index(Index&&) noexcept;
  Index& operator=(Index&&) noexcept;
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  int dimension() const noexcept;

  // ---- categories: dense ids 0..category_count()-1, each with a unique non-empty UTF-8 name.
  /// Id of `name`, defining it first if new. Throws InvalidArgument when `name` is empty or not UTF-8.
  std::int32_t add_category(const std::string& name);
  /// Id of an existing category; throws NotFound.
  std::int32_t category_id(const std::string& name) const;
  /// Name of an existing category; throws NotFound.
  std::string category_name(std::int32_t id) const;
  std::vector<std::string> category_names() const;
  std::size_t category_count() const;

  // ---- items
  std::size_t size() const;
  /// Number of items in one category; throws NotFound for an unknown category.
  std::size_t size(std::int32_t category) const;
  bool contains(std::uint64_t key) const;
  /// Throws NotFound for an absent key.
  IndexItem get(std::uint64_t key) const;
  /// get() without the embedding (left empty): key, category, label and mask, no dimension()-float
  /// copy. What a caller needs to describe search hits. Throws NotFound for an absent key.
  IndexItem get_metadata(std::uint64_t key) const;
  /// All keys, in no particular order.
  std::vector<std::uint64_t> keys() const;

  /// Inserts a new item. `embedding` holds dimension() finite floats; `label` must be UTF-8 and `key`
  /// is not 2^64-1 (search's "no result"), else InvalidArgument. Throws AlreadyExists for a
  /// present key, NotFound for an undefined category, InvalidArgument for a non-finite value or a
  /// mask whose side/frame differs from the masks already stored.
  void add(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label = {},
           const ContourMask* mask = nullptr);
  /// Inserts many new items at once, all or none.
  void add_batch(const ItemBatch& batch);
  /// Inserts, or replaces everything stored for the key (the item may change category).
  void upsert(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label = {},
              const ContourMask* mask = nullptr);
  /// Removes a key in O(1); throws NotFound when absent.
  void remove(std::uint64_t key);
  /// Reserves room for `count` more items in `category`, so a known-size load does not over-allocate.
  void reserve(std::int32_t category, std::size_t count);

  // ---- search
  /// The k nearest items to `query` (dimension() floats) among `categories` (empty = all) that pass
  /// `filter` (empty = all). Returns min(k, candidates) hits. Throws InvalidArgument for k == 0 or a
  /// non-finite query, NotFound for an unknown category.
  std::vector<SearchHit> search(const float* query, std::size_t k, const std::vector<std::int32_t>& categories = {},
                                const KeyFilter& filter = {}) const;
  /// search() for `count` queries stored row-major in `queries`; uses matrix products (BLAS).
  std::vector<std::vector<SearchHit>> search_batch(const float* queries, std::size_t count, std::size_t k,
                                                   const std::vector<std::int32_t>& categories = {},
                                                   const KeyFilter& filter = {}) const;

  // ---- persistence (docs/format.md)
  /// Writes the index atomically (temporary file, fsync, rename; README "Reliability"). Saving over
  /// the file this index was loaded from or last saved to (by any name: links and relative paths
  /// resolved) first checks, under the file's commit lock, that nobody replaced it meanwhile: throws
  /// Conflict when someone did (load it again and reapply the change), leaving the file untouched.
  /// Throws Io when the file cannot be written or is not a regular file (a device, FIFO or socket is
  /// never replaced). Concurrent saves of one Index are serialised. Not const: it records the version
  /// of the file written, which the next save over it expects.
  void save(const std::string& path);
  /// Reads an index; throws Io (also for a path that is not a regular file), Corrupt or FormatVersion
  /// with the reason.
  static Index load(const std::string& path);

  /// Bytes held by the index's data structures (vectors, norms, keys, labels, masks, key map).
  std::size_t memory_usage() const;


 private:
  // The one grant: the file layer streams the arrays into a container's sections (an index file, or a
  // catalogue file holding an index) without copying them.
  friend struct detail::IndexIo;
  std::unique_ptr<detail::IndexData> impl_;
};

}  // namespace domainsearch
