#pragma once
// Internal: the Index's storage, shared by index.cpp (operations) and index_io.cpp (persistence).
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "domainsearch/index.hpp"
#include "io/section_file.hpp"

namespace domainsearch {

/// One category's items, stored contiguously: slot i owns keys[i], vectors[i*d .. i*d+d), ...
struct CategoryBlock {
  std::vector<std::uint64_t> keys;
  std::vector<float> vectors;
  std::vector<float> sq_norms;
  std::vector<std::string> labels;
  std::vector<std::optional<ContourMask>> masks;
  std::size_t size() const noexcept { return keys.size(); }
};

struct ItemLocation {
  std::int32_t category;
  std::uint32_t slot;
};

struct MaskGeometry {
  int side;
  MaskFrame frame;
};

struct detail::IndexData {
  int dimension;
  std::vector<std::string> category_names;
  std::unordered_map<std::string, std::int32_t> category_ids;
  std::vector<CategoryBlock> blocks;  // indexed by category id
  std::unordered_map<std::uint64_t, ItemLocation> locations;
  std::optional<MaskGeometry> mask_geometry;  // fixed by the first stored mask
  mutable std::shared_mutex mutex;
  // The file this index was loaded from or last saved to, and its version then: a save over it
  // expects that version. Guarded by origin_mutex (save() is const: it changes no item).
  mutable std::optional<detail::FileOrigin> origin;
  mutable std::mutex origin_mutex;

  // Unlocked helpers; callers hold the mutex.
  std::int32_t define_category(const std::string& name);
  void check_category(std::int32_t category) const;
  void check_item(std::uint64_t key, std::int32_t category, const float* embedding, const ContourMask* mask) const;
  /// Makes room for `extra` more items in a category (capacity grows by at least 1/8).
  void grow(std::int32_t category, std::size_t extra);
  /// Appends an item; room must have been made by grow() or Index::reserve().
  void insert(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label,
              const ContourMask* mask);
  void erase(std::uint64_t key);
};

}  // namespace domainsearch
