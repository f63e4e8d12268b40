#include <catch2/catch.hpp>
#include <cstring>

#include "domainsearch/error.hpp"
#include "domainsearch/index.hpp"
#include "io/crc32c.hpp"
#include "test_util.hpp"

using namespace domainsearch;

namespace {

const std::string kGolden = std::string(DS_TEST_DATA_DIR) + "/format/v1/golden.dsidx";

// The content of the golden file: 3 categories, labels (one non-ASCII), masks on some items,
// an item removed after insertion. Changing this function or the writer must not go unnoticed.
Index golden_index() {
  Index index(4);
  const auto fruit = index.add_category("fruit");
  const auto juice = index.add_category("juice");
  index.add_category("empty category");
  ContourMask left(16), right(16);
  std::vector<std::uint8_t> px(32 * 32, 0);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 16; ++x) px[y * 32 + x] = 255;
  left = ContourMask::from_binary(px.data(), 32, 32, 32, 16, MaskFrame::Image);
  for (int i = 0; i < 6; ++i) {
    const float v[4] = {float(i), float(i) * 0.5f, -float(i), 1.0f / float(i + 1)};
    const std::string label = i == 2 ? "Bravo \xc3\x85pple" : "item-" + std::to_string(i);
    index.add(1000 + i, i % 2 ? juice : fruit, v, label, i % 3 == 0 ? &left : (i == 4 ? &right : nullptr));
  }
  index.remove(1003);
  return index;
}

void check_same(const Index& a, const Index& b) {
  REQUIRE(a.dimension() == b.dimension());
  REQUIRE(a.size() == b.size());
  CHECK(a.category_names() == b.category_names());
  auto keys = a.keys();
  std::sort(keys.begin(), keys.end());
  auto other = b.keys();
  std::sort(other.begin(), other.end());
  REQUIRE(keys == other);
  for (std::uint64_t k : keys) {
    const IndexItem x = a.get(k), y = b.get(k);
    CHECK(x.category == y.category);
    CHECK(x.label == y.label);
    CHECK(x.embedding == y.embedding);
    CHECK(x.mask == y.mask);
  }
}

Status load_status(const std::string& path) {
  return dstest::status_of([&] { Index::load(path); });
}

template <typename T>
void poke(std::vector<std::uint8_t>& bytes, std::size_t at, T value) { std::memcpy(bytes.data() + at, &value, sizeof(T)); }

void reseal_header(std::vector<std::uint8_t>& bytes) { poke<std::uint32_t>(bytes, 60, detail::crc32c(bytes.data(), 60)); }

}  // namespace

// Regenerates the golden file: run `unit_tests "[.regenerate-golden]"` only when the format changes
// on purpose (and bump the format version).
TEST_CASE("regenerate golden index file", "[.regenerate-golden]") { golden_index().save(kGolden); }

TEST_CASE("the committed golden v1 file still loads with the same content", "[format]") {
  check_same(Index::load(kGolden), golden_index());
}

TEST_CASE("save and load round-trip / atomically replacing the old file", "[format]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dsidx");
  Index original = golden_index();
  original.save(path);
  check_same(Index::load(path), original);

  Index bigger = golden_index();
  const float v[4] = {9, 9, 9, 9};
  bigger.add(77, 0, v, "new");
  bigger.save(path);
  check_same(Index::load(path), bigger);
  // No temporary file is left beside it: only the file and its lock file.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator{}) == 2);
  CHECK(std::filesystem::is_regular_file(path + ".lock"));

  // A save that cannot complete leaves the old file untouched.
  CHECK_THROWS_AS(bigger.save(dir.file("no/such/dir/x.dsidx")), Error);
  check_same(Index::load(path), bigger);
}

TEST_CASE("truncation at every byte is refused as corrupt", "[format]") {
  dstest::ScratchDir dir;
  const auto bytes = dstest::read_bytes(kGolden);
  REQUIRE(bytes.size() > 64);
  const std::string path = dir.file("cut.dsidx");
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    dstest::write_bytes(path, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(len)));
    INFO("truncated to " << len << " bytes");
    CHECK(load_status(path) == Status::Corrupt);
  }
}

TEST_CASE("every single-bit flip is detected", "[format]") {
  dstest::ScratchDir dir;
  const auto bytes = dstest::read_bytes(kGolden);
  const std::string path = dir.file("flip.dsidx");
  std::mt19937 rng(5);
  for (int trial = 0; trial < 400; ++trial) {
    auto bad = bytes;
    const std::size_t at = trial < 64 ? static_cast<std::size_t>(trial) : rng() % bad.size();  // all header bytes, then random
    bad[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    dstest::write_bytes(path, bad);
    INFO("bit flipped in byte " << at);
    const Status s = load_status(path);
    // Padding bytes between sections carry no data; a flip there is harmless, anything else is caught.
    if (s == Status::Ok) {
      check_same(Index::load(path), golden_index());
    } else {
      CHECK((s == Status::Corrupt || s == Status::FormatVersion));
    }
  }
}

TEST_CASE("wrong magic / newer major version / absurd lengths", "[format]") {
  dstest::ScratchDir dir;
  const auto bytes = dstest::read_bytes(kGolden);
  const std::string path = dir.file("x.dsidx");

  auto magic = bytes;
  magic[0] = 'X';
  dstest::write_bytes(path, magic);
  CHECK(load_status(path) == Status::Corrupt);

  auto newer = bytes;
  poke<std::uint16_t>(newer, 8, 2);
  reseal_header(newer);
  dstest::write_bytes(path, newer);
  try {
    Index::load(path);
    FAIL("newer major accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::FormatVersion);
    CHECK(std::string(e.what()).find("v2.0") != std::string::npos);
  }

  auto many_sections = bytes;
  poke<std::uint32_t>(many_sections, 12, 0x7FFFFFFF);
  reseal_header(many_sections);
  dstest::write_bytes(path, many_sections);
  CHECK(load_status(path) == Status::Corrupt);

  // A section entry claiming 2^60 bytes, with a valid table checksum.
  auto huge = bytes;
  std::uint64_t table_offset;
  std::memcpy(&table_offset, huge.data() + 16, 8);
  poke<std::uint64_t>(huge, table_offset + 16, std::uint64_t{1} << 60);
  std::uint32_t count;
  std::memcpy(&count, huge.data() + 12, 4);
  poke<std::uint32_t>(huge, 32, detail::crc32c(huge.data() + table_offset, count * 32u));
  reseal_header(huge);
  dstest::write_bytes(path, huge);
  CHECK(load_status(path) == Status::Corrupt);

  CHECK(load_status(dir.file("missing.dsidx")) == Status::Io);
}
