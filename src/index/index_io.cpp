#include "index/index_io.hpp"

#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "domainsearch/error.hpp"
#include "domainsearch/version.hpp"
#include "index/index_impl.hpp"
#include "index/l2_kernel.hpp"

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
  const Index::Impl& m = *index.impl_;
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

Index IndexIo::read(const SectionReader& r) {
  const std::string& path = r.path();
  nlohmann::json meta;
  std::uint64_t n = 0;
  int dimension = 0;
  std::vector<std::string> categories;
  try {
    const std::vector<std::uint8_t> bytes = r.read(tag("META"), kMaxMetaBytes);
    meta = nlohmann::json::parse(bytes.begin(), bytes.end());
    dimension = meta.at("dimension").get<int>();
    n = meta.at("count").get<std::uint64_t>();
    categories = meta.at("categories").get<std::vector<std::string>>();
    if (meta.at("metric").get<std::string>() != "squared_l2") throw Error(Status::Corrupt, path + ": unknown metric");
  } catch (const nlohmann::json::exception& e) {
    throw Error(Status::Corrupt, path + ": malformed META section (" + e.what() + ")");
  }
  if (dimension < 1 || dimension > 65536) throw Error(Status::Corrupt, path + ": invalid dimension " + std::to_string(dimension));
  Index index(dimension);
  Index::Impl& m = *index.impl_;
  for (const std::string& name : categories) {
    if (name.empty() || m.category_ids.count(name) != 0) throw Error(Status::Corrupt, path + ": empty or duplicate category name");
    m.define_category(name);
  }
  const std::uint64_t d = static_cast<std::uint64_t>(dimension);
  // Every length is checked against the file before anything of that size is allocated.
  if (r.length(tag("KEYS")) != checked_mul(n, 8, path) || r.length(tag("CATS")) != checked_mul(n, 4, path) ||
      r.length(tag("VECS")) != checked_mul(checked_mul(n, d, path), 4, path))
    throw Error(Status::Corrupt, path + ": section lengths disagree with the declared " + std::to_string(n) + " items of dimension " + std::to_string(d));
  std::vector<std::uint64_t> keys(n);
  std::vector<std::int32_t> cats(n);
  std::vector<float> vectors(n * d);
  r.read_into(tag("KEYS"), keys.data(), n * 8);
  r.read_into(tag("CATS"), cats.data(), n * 4);
  r.read_into(tag("VECS"), vectors.data(), n * d * 4);

  const std::vector<std::uint8_t> labl = r.read(tag("LABL"), r.length(tag("LABL")));
  if (labl.size() < (n + 1) * 8) throw Error(Status::Corrupt, path + ": LABL section too short");
  std::vector<std::uint64_t> offsets(n + 1);
  std::memcpy(offsets.data(), labl.data(), (n + 1) * 8);
  const std::uint64_t text_size = labl.size() - (n + 1) * 8;
  const char* text = reinterpret_cast<const char*>(labl.data()) + (n + 1) * 8;
  if (offsets[0] != 0 || offsets[n] != text_size) throw Error(Status::Corrupt, path + ": LABL offsets do not span its text");

  std::optional<MaskGeometry> geometry;
  std::vector<std::uint8_t> mask_bytes;
  if (meta.contains("mask")) {
    const int side = meta["mask"].value("side", 0), frame = meta["mask"].value("frame", -1);
    if (side < ContourMask::kMinSide || side > ContourMask::kMaxSide || (frame != 0 && frame != 1))
      throw Error(Status::Corrupt, path + ": invalid mask geometry");
    geometry = MaskGeometry{side, static_cast<MaskFrame>(frame)};
    const std::uint64_t expected = (n + 7) / 8 * 8 + checked_mul(n, ContourMask::word_count(side) * 8, path);
    if (r.length(tag("MASK")) != expected) throw Error(Status::Corrupt, path + ": MASK section length mismatch");
    mask_bytes.resize(expected);
    r.read_into(tag("MASK"), mask_bytes.data(), expected);
  }

  std::vector<std::size_t> per_category(m.blocks.size(), 0);
  for (std::int32_t c : cats) {
    if (c < 0 || static_cast<std::size_t>(c) >= m.blocks.size())
      throw Error(Status::Corrupt, path + ": an item has unknown category " + std::to_string(c));
    ++per_category[static_cast<std::size_t>(c)];
  }
  for (std::size_t c = 0; c < per_category.size(); ++c) index.reserve(static_cast<std::int32_t>(c), per_category[c]);
  for (std::uint64_t i = 0; i < n; ++i) {
    if (offsets[i + 1] < offsets[i] || offsets[i + 1] > text_size) throw Error(Status::Corrupt, path + ": LABL offsets out of order");
    if (m.locations.count(keys[i]) != 0) throw Error(Status::Corrupt, path + ": duplicate key " + std::to_string(keys[i]));
    std::optional<ContourMask> mask;
    if (geometry && mask_bytes[i] != 0) {
      const std::size_t wc = ContourMask::word_count(geometry->side);
      std::vector<std::uint64_t> words(wc);
      std::memcpy(words.data(), mask_bytes.data() + (n + 7) / 8 * 8 + i * wc * 8, wc * 8);
      mask = ContourMask::from_words(geometry->side, geometry->frame, words.data(), wc);
    }
    m.insert(keys[i], cats[i], vectors.data() + i * d, std::string(text + offsets[i], text + offsets[i + 1]),
             mask ? &*mask : nullptr);
  }
  m.mask_geometry = geometry;
  return index;
}

}  // namespace domainsearch::detail

namespace domainsearch {

void Index::save(const std::string& path) const {
  detail::SectionWriter writer(path, detail::IndexIo::kFileKind);
  detail::IndexIo::write(*this, writer);
  writer.commit();
}

Index Index::load(const std::string& path) {
  const detail::SectionReader reader(path, detail::IndexIo::kFileKind);
  return detail::IndexIo::read(reader);
}

}  // namespace domainsearch
