#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_set>

#include "domainsearch/error.hpp"
#include "index/index_impl.hpp"
#include "index/item_key.hpp"
#include "index/l2_kernel.hpp"
#include "index/top_k.hpp"
#include "io/utf8.hpp"

namespace domainsearch {
namespace {

constexpr int kMaxDimension = 65536;
// Rows per distance-kernel call: bounds scratch memory to kChunkRows floats per query.
constexpr std::size_t kChunkRows = 16384;

using ReadLock = std::shared_lock<std::shared_mutex>;
using WriteLock = std::unique_lock<std::shared_mutex>;

void check_finite(const float* v, std::size_t n, const std::string& what) {
  if (v == nullptr) throw Error(Status::InvalidArgument, what + " pointer is null");
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw Error(Status::InvalidArgument, what + " has a non-finite value at position " + std::to_string(i));
}

// Labels and category names reach files whose JSON holds only UTF-8 (the index's META section, a
// fine-tuned model's description, a catalogue's) and callers that read them as text (Python): one
// that is not UTF-8 (a Latin-1 name) is refused here, where it enters, with its bad bytes shown as \xNN.
void check_label(std::uint64_t key, const std::string& label) {
  if (!detail::is_valid_utf8(label)) detail::require_utf8(label, "label of key " + std::to_string(key));  // the message only when needed
}

void check_labels(const ItemBatch& batch) {
  if (batch.labels == nullptr) return;
  for (std::size_t i = 0; i < batch.count; ++i) check_label(batch.keys[i], batch.labels[i]);
}

// Grows a vector's capacity by 1/8 at a time so memory stays close to the data (amortised O(1)).
template <typename T>
void grow_for(std::vector<T>& v, std::size_t extra) {
  const std::size_t needed = v.size() + extra;
  if (needed > v.capacity()) v.reserve(std::max(needed, v.capacity() + v.capacity() / 8));
}

}  // namespace

// ---------------------------------------------------------------- IndexData helpers

std::int32_t detail::IndexData::define_category(const std::string& name) {
  if (name.empty()) throw Error(Status::InvalidArgument, "category name must not be empty");
  const auto it = category_ids.find(name);
  if (it != category_ids.end()) return it->second;
  const auto id = static_cast<std::int32_t>(category_names.size());
  category_names.push_back(name);
  category_ids.emplace(name, id);
  blocks.emplace_back();
  return id;
}

void detail::IndexData::check_category(std::int32_t category) const {
  if (category < 0 || static_cast<std::size_t>(category) >= blocks.size())
    throw Error(Status::NotFound, "unknown category id " + std::to_string(category) + " (the index has " +
                                      std::to_string(blocks.size()) + " categories)");
}

void detail::IndexData::check_item(std::uint64_t key, std::int32_t category, const float* embedding, const ContourMask* mask) const {
  detail::check_item_key(key);
  check_category(category);
  check_finite(embedding, static_cast<std::size_t>(dimension), "embedding of key " + std::to_string(key));
  if (mask != nullptr && mask_geometry && (mask->side() != mask_geometry->side || mask->frame() != mask_geometry->frame))
    throw Error(Status::InvalidArgument, "mask of key " + std::to_string(key) + " is " + std::to_string(mask->side()) +
                                             " cells wide; the index stores masks of side " + std::to_string(mask_geometry->side) +
                                             " in one frame");
}

void detail::IndexData::insert(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label,
                         const ContourMask* mask) {
  CategoryBlock& b = blocks[static_cast<std::size_t>(category)];
  if (b.size() >= UINT32_MAX) throw Error(Status::InvalidArgument, "category holds the maximum of 2^32-1 items");
  locations.emplace(key, ItemLocation{category, static_cast<std::uint32_t>(b.size())});
  b.keys.push_back(key);
  b.vectors.insert(b.vectors.end(), embedding, embedding + dimension);
  b.sq_norms.push_back(detail::squared_norm(embedding, static_cast<std::size_t>(dimension)));
  b.labels.push_back(label);
  b.masks.push_back(mask ? std::optional<ContourMask>(*mask) : std::nullopt);
  if (mask != nullptr && !mask_geometry) mask_geometry = MaskGeometry{mask->side(), mask->frame()};
}

void detail::IndexData::grow(std::int32_t category, std::size_t extra) {
  CategoryBlock& b = blocks[static_cast<std::size_t>(category)];
  grow_for(b.keys, extra);
  grow_for(b.vectors, extra * static_cast<std::size_t>(dimension));
  grow_for(b.sq_norms, extra);
  grow_for(b.labels, extra);
  grow_for(b.masks, extra);
}

// Swap-with-last inside the category block: O(dimension), no rebuild.
void detail::IndexData::erase(std::uint64_t key) {
  const auto it = locations.find(key);
  const ItemLocation loc = it->second;
  locations.erase(it);
  CategoryBlock& b = blocks[static_cast<std::size_t>(loc.category)];
  const std::size_t last = b.size() - 1;
  const std::size_t d = static_cast<std::size_t>(dimension);
  if (loc.slot != last) {
    b.keys[loc.slot] = b.keys[last];
    std::copy_n(b.vectors.begin() + static_cast<std::ptrdiff_t>(last * d), d, b.vectors.begin() + static_cast<std::ptrdiff_t>(loc.slot * d));
    b.sq_norms[loc.slot] = b.sq_norms[last];
    b.labels[loc.slot] = std::move(b.labels[last]);
    b.masks[loc.slot] = std::move(b.masks[last]);
    locations[b.keys[loc.slot]].slot = loc.slot;
  }
  b.keys.pop_back();
  b.vectors.resize(last * d);
  b.sq_norms.pop_back();
  b.labels.pop_back();
  b.masks.pop_back();
}

// ---------------------------------------------------------------- construction

Index::Index(int dimension) : impl_(std::make_unique<detail::IndexData>()) {
  if (dimension < 1 || dimension > kMaxDimension)
    throw Error(Status::InvalidArgument, "index dimension must be in [1, " + std::to_string(kMaxDimension) + "], got " +
                                             std::to_string(dimension));
  impl_->dimension = dimension;
}
Index::~Index() = default;
Index::Index(Index&&) noexcept = default;
Index& Index::operator=(Index&&) noexcept = default;

int Index::dimension() const noexcept { return impl_->dimension; }

// ---------------------------------------------------------------- categories

std::int32_t Index::add_category(const std::string& name) {
  detail::require_utf8(name, "category name");
  WriteLock lock(impl_->mutex);
  return impl_->define_category(name);
}

std::int32_t Index::category_id(const std::string& name) const {
  ReadLock lock(impl_->mutex);
  const auto it = impl_->category_ids.find(name);
  if (it == impl_->category_ids.end()) throw Error(Status::NotFound, "unknown category \"" + name + "\"");
  return it->second;
}

std::string Index::category_name(std::int32_t id) const {
  ReadLock lock(impl_->mutex);
  impl_->check_category(id);
  return impl_->category_names[static_cast<std::size_t>(id)];
}

std::vector<std::string> Index::category_names() const {
  ReadLock lock(impl_->mutex);
  return impl_->category_names;
}

std::size_t Index::category_count() const {
  ReadLock lock(impl_->mutex);
  return impl_->blocks.size();
}

// ---------------------------------------------------------------- items

std::size_t Index::size() const {
  ReadLock lock(impl_->mutex);
  return impl_->locations.size();
}

std::size_t Index::size(std::int32_t category) const {
  ReadLock lock(impl_->mutex);
  impl_->check_category(category);
  return impl_->blocks[static_cast<std::size_t>(category)].size();
}

bool Index::contains(std::uint64_t key) const {
  ReadLock lock(impl_->mutex);
  return impl_->locations.count(key) != 0;
}

namespace {

IndexItem item_of(const detail::IndexData& impl, std::uint64_t key, bool with_embedding) {
  ReadLock lock(impl.mutex);
  const auto it = impl.locations.find(key);
  if (it == impl.locations.end()) throw Error(Status::NotFound, "key " + std::to_string(key) + " is not in the index");
  const CategoryBlock& b = impl.blocks[static_cast<std::size_t>(it->second.category)];
  const std::size_t slot = it->second.slot, d = static_cast<std::size_t>(impl.dimension);
  const float* v = b.vectors.data() + slot * d;
  return IndexItem{key, it->second.category, b.labels[slot], with_embedding ? std::vector<float>(v, v + d) : std::vector<float>{},
                   b.masks[slot]};
}

}  // namespace

IndexItem Index::get(std::uint64_t key) const { return item_of(*impl_, key, true); }

IndexItem Index::get_metadata(std::uint64_t key) const { return item_of(*impl_, key, false); }

std::vector<std::uint64_t> Index::keys() const {
  ReadLock lock(impl_->mutex);
  std::vector<std::uint64_t> out;
  out.reserve(impl_->locations.size());
  for (const CategoryBlock& b : impl_->blocks) out.insert(out.end(), b.keys.begin(), b.keys.end());
  return out;
}

void Index::add(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label,
                const ContourMask* mask) {
  add_batch(ItemBatch{1, &key, &category, embedding, &label, mask});
}

void Index::add_batch(const ItemBatch& batch) {
  if (batch.count == 0) return;
  if (batch.keys == nullptr || batch.categories == nullptr || batch.embeddings == nullptr)
    throw Error(Status::InvalidArgument, "add_batch: keys, categories and embeddings must not be null");
  check_labels(batch);
  WriteLock lock(impl_->mutex);
  detail::IndexData& m = *impl_;
  const std::size_t d = static_cast<std::size_t>(m.dimension);
  std::unordered_set<std::uint64_t> seen;
  std::optional<MaskGeometry> geometry = m.mask_geometry;
  for (std::size_t i = 0; i < batch.count; ++i) {
    const std::uint64_t key = batch.keys[i];
    if (m.locations.count(key) != 0 || !seen.insert(key).second)
      throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the index (use upsert to replace it)");
    const ContourMask* mask = batch.masks ? &batch.masks[i] : nullptr;
    m.check_item(key, batch.categories[i], batch.embeddings + i * d, mask);
    if (mask != nullptr && geometry && (mask->side() != geometry->side || mask->frame() != geometry->frame))
      throw Error(Status::InvalidArgument, "masks in one batch differ in side or frame (key " + std::to_string(key) + ")");
    if (mask != nullptr && !geometry) geometry = MaskGeometry{mask->side(), mask->frame()};
  }
  std::vector<std::size_t> per_category(m.blocks.size(), 0);
  for (std::size_t i = 0; i < batch.count; ++i) ++per_category[static_cast<std::size_t>(batch.categories[i])];
  for (std::size_t c = 0; c < per_category.size(); ++c)
    if (per_category[c] != 0) m.grow(static_cast<std::int32_t>(c), per_category[c]);
  m.locations.reserve(m.locations.size() + batch.count);
  for (std::size_t i = 0; i < batch.count; ++i)
    m.insert(batch.keys[i], batch.categories[i], batch.embeddings + i * d, batch.labels ? batch.labels[i] : std::string(),
             batch.masks ? &batch.masks[i] : nullptr);
}

void Index::upsert(std::uint64_t key, std::int32_t category, const float* embedding, const std::string& label,
                   const ContourMask* mask) {
  check_label(key, label);
  WriteLock lock(impl_->mutex);
  impl_->check_item(key, category, embedding, mask);
  if (impl_->locations.count(key) != 0) impl_->erase(key);
  impl_->grow(category, 1);
  impl_->insert(key, category, embedding, label, mask);
}

void Index::remove(std::uint64_t key) {
  WriteLock lock(impl_->mutex);
  if (impl_->locations.count(key) == 0) throw Error(Status::NotFound, "key " + std::to_string(key) + " is not in the index");
  impl_->erase(key);
}

void Index::reserve(std::int32_t category, std::size_t count) {
  WriteLock lock(impl_->mutex);
  impl_->check_category(category);
  CategoryBlock& b = impl_->blocks[static_cast<std::size_t>(category)];
  const std::size_t total = b.size() + count;
  b.keys.reserve(total);
  b.vectors.reserve(total * static_cast<std::size_t>(impl_->dimension));
  b.sq_norms.reserve(total);
  b.labels.reserve(total);
  b.masks.reserve(total);
  impl_->locations.reserve(impl_->locations.size() + count);
}

// ---------------------------------------------------------------- search

namespace {

struct SearchPlan {
  std::vector<std::int32_t> categories;
  // The k asked for, capped at the items of those categories: a larger k (even SIZE_MAX) lists them all
  // and never reserves room for k results. At least 1, so a selector is never empty of room.
  std::size_t k = 1;
};

SearchPlan plan_search(const detail::IndexData& m, std::size_t k, const std::vector<std::int32_t>& categories) {
  if (k == 0) throw Error(Status::InvalidArgument, "k must be at least 1");
  SearchPlan plan;
  if (categories.empty()) {
    for (std::size_t c = 0; c < m.blocks.size(); ++c) plan.categories.push_back(static_cast<std::int32_t>(c));
  } else {
    for (std::int32_t c : categories) m.check_category(c);
    plan.categories = categories;
    std::sort(plan.categories.begin(), plan.categories.end());
    plan.categories.erase(std::unique(plan.categories.begin(), plan.categories.end()), plan.categories.end());
  }
  std::size_t candidates = 0;
  for (std::int32_t c : plan.categories) candidates += m.blocks[static_cast<std::size_t>(c)].size();
  plan.k = std::max<std::size_t>(1, std::min(k, candidates));
  return plan;
}

void push_chunk(detail::TopK& top, const float* distances, const CategoryBlock& b, std::size_t first, std::size_t rows,
                std::int32_t category, const KeyFilter& filter) {
  for (std::size_t i = 0; i < rows; ++i) {
    const float dist = distances[i];
    if (!top.admits(dist)) continue;
    const std::uint64_t key = b.keys[first + i];
    if (filter && !filter(key)) continue;
    top.push(SearchHit{key, category, dist});
  }
}

// Replaces the kernel's distances of the final hits by exactly accumulated ones and re-sorts them.
std::vector<SearchHit> refine(const detail::IndexData& m, detail::TopK& top, const float* query) {
  std::vector<SearchHit> hits = top.take_sorted();
  const std::size_t d = static_cast<std::size_t>(m.dimension);
  for (SearchHit& h : hits) {
    const ItemLocation loc = m.locations.at(h.key);
    h.distance = detail::squared_distance(m.blocks[static_cast<std::size_t>(loc.category)].vectors.data() + loc.slot * d, query, d);
  }
  std::sort(hits.begin(), hits.end(), detail::TopK::less);
  return hits;
}

}  // namespace

std::vector<SearchHit> Index::search(const float* query, std::size_t k, const std::vector<std::int32_t>& categories,
                                     const KeyFilter& filter) const {
  check_finite(query, static_cast<std::size_t>(impl_->dimension), "query");
  ReadLock lock(impl_->mutex);
  const detail::IndexData& m = *impl_;
  const SearchPlan plan = plan_search(m, k, categories);
  const std::size_t d = static_cast<std::size_t>(m.dimension);
  const float q_sqnorm = detail::squared_norm(query, d);
  detail::TopK top(plan.k);
  std::vector<float> distances;
  for (std::int32_t c : plan.categories) {
    const CategoryBlock& b = m.blocks[static_cast<std::size_t>(c)];
    for (std::size_t first = 0; first < b.size(); first += kChunkRows) {
      const std::size_t rows = std::min(kChunkRows, b.size() - first);
      distances.resize(rows);
      detail::l2sq_one(b.vectors.data() + first * d, b.sq_norms.data() + first, rows, d, query, q_sqnorm, distances.data());
      push_chunk(top, distances.data(), b, first, rows, c, filter);
    }
  }
  return refine(m, top, query);
}

std::vector<std::vector<SearchHit>> Index::search_batch(const float* queries, std::size_t count, std::size_t k,
                                                        const std::vector<std::int32_t>& categories,
                                                        const KeyFilter& filter) const {
  if (count == 0) return {};
  const std::size_t d = static_cast<std::size_t>(impl_->dimension);
  check_finite(queries, count * d, "query batch");
  ReadLock lock(impl_->mutex);
  const detail::IndexData& m = *impl_;
  const SearchPlan plan = plan_search(m, k, categories);
  std::vector<float> q_sqnorms(count);
  for (std::size_t j = 0; j < count; ++j) q_sqnorms[j] = detail::squared_norm(queries + j * d, d);
  std::vector<detail::TopK> tops(count, detail::TopK(plan.k));
  std::vector<float> distances;
  for (std::int32_t c : plan.categories) {
    const CategoryBlock& b = m.blocks[static_cast<std::size_t>(c)];
    for (std::size_t first = 0; first < b.size(); first += kChunkRows) {
      const std::size_t rows = std::min(kChunkRows, b.size() - first);
      distances.resize(rows * count);
      detail::l2sq_many(b.vectors.data() + first * d, b.sq_norms.data() + first, rows, d, queries, q_sqnorms.data(), count,
                        distances.data());
      for (std::size_t j = 0; j < count; ++j) push_chunk(tops[j], distances.data() + j * rows, b, first, rows, c, filter);
    }
  }
  std::vector<std::vector<SearchHit>> out(count);
  for (std::size_t j = 0; j < count; ++j) out[j] = refine(m, tops[j], queries + j * d);
  return out;
}

std::size_t Index::memory_usage() const {
  ReadLock lock(impl_->mutex);
  std::size_t bytes = sizeof(detail::IndexData);
  for (const CategoryBlock& b : impl_->blocks) {
    bytes += b.keys.capacity() * sizeof(std::uint64_t) + b.vectors.capacity() * sizeof(float) +
             b.sq_norms.capacity() * sizeof(float) + b.labels.capacity() * sizeof(std::string) +
             b.masks.capacity() * sizeof(std::optional<ContourMask>);
    for (const std::string& l : b.labels) bytes += l.capacity() > 15 ? l.capacity() + 1 : 0;
    for (const auto& mask : b.masks) bytes += mask ? mask->words().capacity() * sizeof(std::uint64_t) : 0;
  }
  // unordered_map: one node (key, value, next pointer, cached hash) per item plus the bucket array.
  bytes += impl_->locations.size() * (sizeof(std::pair<const std::uint64_t, ItemLocation>) + 2 * sizeof(void*)) +
           impl_->locations.bucket_count() * sizeof(void*);
  return bytes;
}

}  // namespace domainsearch
