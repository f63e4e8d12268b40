#include "index/index_io.hpp"

#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "domainsearch/error.hpp"
#include "domainsearch/version.hpp"
#include "index/index_impl.hpp"
#include "index/l2_kernel.hpp"
#include "io/json_text.hpp"

namespace domainsearch::detail {
namespace {

constexpr std::uint64_t kMaxMetaBytes = 64ull << 20;

template <typename T>
void append_vector(SectionWriter& w, const std::vector<T>& v) {
  w.append(v.data(), v.size() * sizeof(T));
}

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const std::string& path) {
  if (b != 0 && a > UINT64_MAX / b) throw Error(Status::Corrupt, path + ": declared sizes overflow");
  return a * b;
}

}  // namespace

const FileKind IndexIo::kFileKind{{'D', 'S', 'I', 'N', 'D', 'E', 'X', '\0'}, 1, 0, "index"};

void IndexIo::write(const Index& index, SectionWriter& w) {
  const detail::IndexData& m = *index.impl_;
  std::shared_lock<std::shared_mutex> lock(m.mutex);
  const std::size_t n = m.locations.size();
  nlohmann::json meta = {{"dimension", m.dimension},
                         {"count", n},
                         {"metric", "squared_l2"},
                         {"categories", m.category_names},
                         {"writer", std::string("libdomainsearch ") + DS_VERSION_STRING}};
  if (m.mask_geometry) meta["mask"] = {{"side", m.mask_geometry->side}, {"frame", static_cast<int>(m.mask_geometry->frame)}};
  const std::string meta_text = meta.dump();
  w.add_section(tag("META"), meta_text.data(), meta_text.size());

  w.begin_section(tag("KEYS"));
  for (const CategoryBlock& b : m.blocks) append_vector(w, b.keys);
  w.end_section();
  w.begin_section(tag("CATS"));
  for (std::size_t c = 0; c < m.blocks.size(); ++c) append_vector(w, std::vector<std::int32_t>(m.blocks[c].size(), static_cast<std::int32_t>(c)));
  w.end_section();
  w.begin_section(tag("VECS"));
  for (const CategoryBlock& b : m.blocks) append_vector(w, b.vectors);
  w.end_section();

  // LABL: n+1 u64 offsets into the UTF-8 bytes that follow them.
  std::vector<std::uint64_t> offsets{0};
  std::string text;
  for (const CategoryBlock& b : m.blocks)
    for (const std::string& l : b.labels) offsets.push_back((text += l).size());
  w.begin_section(tag("LABL"));
  append_vector(w, offsets);
  w.append(text.data(), text.size());
  w.end_section();

  if (m.mask_geometry) {
    // MASK: n presence bytes, zero-padded to 8, then word_count(side) u64 per item (zeros if absent).
    const std::size_t wc = ContourMask::word_count(m.mask_geometry->side);
    std::vector<std::uint8_t> present;
    for (const CategoryBlock& b : m.blocks)
      for (const auto& mask : b.masks) present.push_back(mask ? 1 : 0);
    present.resize((n + 7) / 8 * 8, 0);
    w.begin_section(tag("MASK"));
    append_vector(w, present);
    const std::vector<std::uint64_t> zeros(wc, 0);
    for (const CategoryBlock& b : m.blocks)
      for (const auto& mask : b.masks) append_vector(w, mask ? mask->words() : zeros);
    w.end_section();
  }
}

namespace {

// META: what the other sections hold.
struct Meta {
  nlohmann::json json;
  std::uint64_t count = 0;
  int dimension = 0;
  std::vector<std::string> categories;
};

Meta read_meta(const SectionReader& r) {
  Meta meta;
  try {
    const std::vector<std::uint8_t> bytes = r.read(tag("META"), kMaxMetaBytes);
    meta.json = parse_json(reinterpret_cast<const char*>(bytes.data()), reinterpret_cast<const char*>(bytes.data()) + bytes.size(),
                           r.path() + ": META section", Status::Corrupt);  // bounded depth, no duplicate key
    meta.dimension = json_integer<int>(meta.json.at("dimension"), r.path() + ": META \"dimension\"", Status::Corrupt);
    meta.count = json_integer<std::uint64_t>(meta.json.at("count"), r.path() + ": META \"count\"", Status::Corrupt);
    meta.categories = meta.json.at("categories").get<std::vector<std::string>>();
    if (meta.json.at("metric").get<std::string>() != "squared_l2") throw Error(Status::Corrupt, r.path() + ": unknown metric");
  } catch (const nlohmann::json::exception& e) {
    throw Error(Status::Corrupt, r.path() + ": malformed META section (" + e.what() + ")");
  }
  if (meta.dimension < 1 || meta.dimension > 65536) throw Error(Status::Corrupt, r.path() + ": invalid dimension " + std::to_string(meta.dimension));
  return meta;
}

// LABL: n + 1 offsets, then the labels' text; label i is text[offsets[i], offsets[i + 1]).
struct Labels {
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint64_t> offsets;
  const char* text = nullptr;
  std::uint64_t text_size = 0;

  std::string at(std::uint64_t i, const std::string& path) const {
    if (offsets[i + 1] < offsets[i] || offsets[i + 1] > text_size) throw Error(Status::Corrupt, path + ": LABL offsets out of order");
    return std::string(text + offsets[i], text + offsets[i + 1]);
  }
};

Labels read_labels(const SectionReader& r, std::uint64_t n) {
  Labels l;
  l.bytes = r.read(tag("LABL"), r.length(tag("LABL")));
  if (l.bytes.size() < (n + 1) * 8) throw Error(Status::Corrupt, r.path() + ": LABL section too short");
  l.offsets.resize(n + 1);
  std::memcpy(l.offsets.data(), l.bytes.data(), (n + 1) * 8);
  l.text_size = l.bytes.size() - (n + 1) * 8;
  l.text = reinterpret_cast<const char*>(l.bytes.data()) + (n + 1) * 8;
  if (l.offsets[0] != 0 || l.offsets[n] != l.text_size) throw Error(Status::Corrupt, r.path() + ": LABL offsets do not span its text");
  return l;
}

// MASK: a presence byte per item (padded to 8), then each item's words (all zero when absent).
struct Masks {
  std::optional<MaskGeometry> geometry;
  std::vector<std::uint8_t> bytes;

  std::optional<ContourMask> at(std::uint64_t i, std::uint64_t n) const {
    if (!geometry || bytes[i] == 0) return std::nullopt;
    const std::size_t wc = ContourMask::word_count(geometry->side);
    std::vector<std::uint64_t> words(wc);
    std::memcpy(words.data(), bytes.data() + (n + 7) / 8 * 8 + i * wc * 8, wc * 8);
    return ContourMask::from_words(geometry->side, geometry->frame, words.data(), wc);
  }
};

Masks read_masks(const SectionReader& r, const Meta& meta) {
  Masks m;
  if (!meta.json.contains("mask")) return m;
  const int side = meta.json["mask"].value("side", 0), frame = meta.json["mask"].value("frame", -1);
  if (side < ContourMask::kMinSide || side > ContourMask::kMaxSide || (frame != 0 && frame != 1))
    throw Error(Status::Corrupt, r.path() + ": invalid mask geometry");
  m.geometry = MaskGeometry{side, static_cast<MaskFrame>(frame)};
  const std::uint64_t n = meta.count;
  const std::uint64_t expected = (n + 7) / 8 * 8 + checked_mul(n, ContourMask::word_count(side) * 8, r.path());
  if (r.length(tag("MASK")) != expected) throw Error(Status::Corrupt, r.path() + ": MASK section length mismatch");
  m.bytes.resize(expected);
  r.read_into(tag("MASK"), m.bytes.data(), expected);
  return m;
}

// Reads a fixed-size section of n items of `bytes_per_item` bytes, checking its length first.
template <typename T>
std::vector<T> read_items(const SectionReader& r, const char (&name)[5], std::uint64_t n, std::uint64_t per_item) {
  const std::uint64_t bytes = checked_mul(checked_mul(n, per_item, r.path()), sizeof(T), r.path());
  if (r.length(tag(name)) != bytes)
    throw Error(Status::Corrupt, r.path() + ": section lengths disagree with the declared " + std::to_string(n) + " items");
  std::vector<T> out(n * per_item);
  r.read_into(tag(name), out.data(), bytes);
  return out;
}

}  // namespace

Index IndexIo::read(const SectionReader& r) {
  const std::string& path = r.path();
  const Meta meta = read_meta(r);
  Index index(meta.dimension);
  detail::IndexData& m = *index.impl_;
  for (const std::string& name : meta.categories) {
    if (name.empty() || m.category_ids.count(name) != 0) throw Error(Status::Corrupt, path + ": empty or duplicate category name");
    m.define_category(name);
  }
  const std::uint64_t n = meta.count, d = static_cast<std::uint64_t>(meta.dimension);
  // Every length is checked against the file before anything of that size is allocated.
  const std::vector<std::uint64_t> keys = read_items<std::uint64_t>(r, "KEYS", n, 1);
  const std::vector<std::int32_t> cats = read_items<std::int32_t>(r, "CATS", n, 1);
  const std::vector<float> vectors = read_items<float>(r, "VECS", n, d);
  const Labels labels = read_labels(r, n);
  const Masks masks = read_masks(r, meta);

  std::vector<std::size_t> per_category(m.blocks.size(), 0);
  for (std::int32_t c : cats) {
    if (c < 0 || static_cast<std::size_t>(c) >= m.blocks.size())
      throw Error(Status::Corrupt, path + ": an item has unknown category " + std::to_string(c));
    ++per_category[static_cast<std::size_t>(c)];
  }
  for (std::size_t c = 0; c < per_category.size(); ++c) index.reserve(static_cast<std::int32_t>(c), per_category[c]);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string label = labels.at(i, path);
    if (m.locations.count(keys[i]) != 0) throw Error(Status::Corrupt, path + ": duplicate key " + std::to_string(keys[i]));
    const std::optional<ContourMask> mask = masks.at(i, n);
    m.insert(keys[i], cats[i], vectors.data() + i * d, label, mask ? &*mask : nullptr);
  }
  m.mask_geometry = masks.geometry;
  return index;
}

}  // namespace domainsearch::detail

namespace domainsearch {

void Index::save(const std::string& path) {
  const std::lock_guard<std::mutex> saving(impl_->origin_mutex);
  detail::SectionWriter writer(path, detail::IndexIo::kFileKind, detail::expected_version(impl_->origin, path));
  detail::IndexIo::write(*this, writer);
  writer.commit();
  impl_->origin = detail::FileOrigin{detail::canonical_file_path(path), writer.version()};
}

Index Index::load(const std::string& path) {
  const detail::SectionReader reader(path, detail::IndexIo::kFileKind);
  Index index = detail::IndexIo::read(reader);
  index.impl_->origin = reader.origin();
  return index;
}

}  // namespace domainsearch
