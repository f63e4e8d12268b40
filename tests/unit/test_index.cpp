#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "domainsearch/error.hpp"
#include "domainsearch/index.hpp"
#include "test_util.hpp"

using namespace domainsearch;

namespace {

struct Reference {
  std::uint64_t key;
  std::int32_t category;
  double distance;
};

// Naive double-precision exact search: the ground truth for the BLAS kernel.
std::vector<Reference> naive_search(const std::vector<float>& data, const std::vector<std::uint64_t>& keys,
                                    const std::vector<std::int32_t>& cats, std::size_t d, const float* q,
                                    const std::vector<std::int32_t>& allowed) {
  std::vector<Reference> out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), cats[i]) == allowed.end()) continue;
    double s = 0;
    for (std::size_t j = 0; j < d; ++j) {
      const double diff = static_cast<double>(data[i * d + j]) - q[j];
      s += diff * diff;
    }
    out.push_back({keys[i], cats[i], s});
  }
  std::sort(out.begin(), out.end(), [](const Reference& a, const Reference& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.key < b.key);
  });
  return out;
}

void check_against_reference(const std::vector<SearchHit>& hits, const std::vector<Reference>& ref, std::size_t k) {
  REQUIRE(hits.size() == std::min(k, ref.size()));
  if (hits.empty()) return;
  std::unordered_map<std::uint64_t, double> exact;
  for (const Reference& r : ref) exact[r.key] = r.distance;
  const double scale = 1.0 + ref.back().distance;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    REQUIRE(exact.count(hits[i].key) == 1);
    CHECK(hits[i].distance == Approx(exact[hits[i].key]).margin(1e-5 * scale));
    if (i > 0) CHECK((hits[i - 1].distance < hits[i].distance || (hits[i - 1].distance == hits[i].distance && hits[i - 1].key < hits[i].key)));
  }
  // The hits are the k nearest: the farthest hit is no farther than the nearest excluded item.
  if (hits.size() < ref.size()) CHECK(exact[hits.back().key] <= ref[hits.size()].distance + 1e-5 * scale);
}

}  // namespace

TEST_CASE("search equals a naive double-precision reference over many shapes", "[index]") {
  struct Shape { std::size_t n, d; int categories; };
  const Shape shapes[] = {{1, 1, 1}, {7, 3, 2}, {100, 64, 3}, {500, 200, 5}, {20000, 16, 4}};
  std::uint32_t seed = 1;
  for (const Shape& s : shapes) {
    INFO("n=" << s.n << " d=" << s.d);
    Index index(static_cast<int>(s.d));
    for (int c = 0; c < s.categories; ++c) index.add_category("cat" + std::to_string(c));
    const auto data = dstest::random_vectors(s.n, s.d, seed++);
    std::vector<std::uint64_t> keys(s.n);
    std::vector<std::int32_t> cats(s.n);
    std::mt19937 rng(seed++);
    for (std::size_t i = 0; i < s.n; ++i) {
      keys[i] = rng();
      cats[i] = static_cast<std::int32_t>(rng() % static_cast<unsigned>(s.categories));
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    REQUIRE(keys.size() == s.n);
    index.add_batch(ItemBatch{s.n, keys.data(), cats.data(), data.data()});
    REQUIRE(index.size() == s.n);

    const std::size_t nq = 5;
    const auto queries = dstest::random_vectors(nq, s.d, seed++);
    for (const std::size_t k : {std::size_t{1}, std::size_t{5}, s.n + 3}) {
      for (const std::vector<std::int32_t>& allowed : {std::vector<std::int32_t>{}, std::vector<std::int32_t>{0}}) {
        const auto batch = index.search_batch(queries.data(), nq, k, allowed);
        for (std::size_t j = 0; j < nq; ++j) {
          const auto ref = naive_search(data, keys, cats, s.d, queries.data() + j * s.d, allowed);
          const auto single = index.search(queries.data() + j * s.d, k, allowed);
          check_against_reference(single, ref, k);
          check_against_reference(batch[j], ref, k);
        }
      }
    }
  }
}

TEST_CASE("ties are broken by key / deterministically", "[index]") {
  Index index(4);
  const auto c = index.add_category("all");
  const float v[4] = {1, 2, 3, 4};
  for (std::uint64_t key : {50u, 10u, 40u, 20u, 30u}) index.add(key, c, v);
  const auto hits = index.search(v, 3);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].key == 10);
  CHECK(hits[1].key == 20);
  CHECK(hits[2].key == 30);
  CHECK(hits[0].distance == 0.0f);
}

TEST_CASE("add / get / contains / upsert and remove", "[index]") {
  Index index(3);
  const auto shoes = index.add_category("shoes");
  const auto bags = index.add_category("bags");
  CHECK(index.add_category("shoes") == shoes);
  CHECK(index.category_id("bags") == bags);
  CHECK(index.category_name(bags) == "bags");
  const float a[3] = {0, 0, 0}, b[3] = {1, 0, 0}, c[3] = {5, 5, 5};
  ContourMask mask(16);
  index.add(1, shoes, a, "SKU-1 \xc3\xa9t\xc3\xa9", &mask);
  index.add(2, shoes, b, "SKU-2");
  index.add(3, bags, c);
  CHECK(index.size() == 3);
  CHECK(index.size(shoes) == 2);
  CHECK(index.contains(2));
  CHECK_FALSE(index.contains(99));
  const IndexItem one = index.get(1);
  CHECK(one.label == "SKU-1 \xc3\xa9t\xc3\xa9");
  CHECK(one.category == shoes);
  CHECK(one.embedding == std::vector<float>{0, 0, 0});
  REQUIRE(one.mask.has_value());
  CHECK(*one.mask == mask);
  CHECK_FALSE(index.get(2).mask.has_value());
  const IndexItem described = index.get_metadata(1);
  CHECK(described.key == 1);
  CHECK(described.label == one.label);
  CHECK(described.category == shoes);
  CHECK(described.embedding.empty());
  REQUIRE(described.mask.has_value());
  CHECK(*described.mask == mask);

  index.upsert(2, bags, c, "moved");
  CHECK(index.get(2).category == bags);
  CHECK(index.get(2).label == "moved");
  CHECK(index.size(shoes) == 1);
  CHECK(index.size(bags) == 2);

  index.remove(1);
  CHECK_FALSE(index.contains(1));
  CHECK(index.size() == 2);
  for (const SearchHit& h : index.search(a, 10)) CHECK(h.key != 1);
  // The item moved into the freed slot keeps its data.
  CHECK(index.get(3).embedding == std::vector<float>{5, 5, 5});
  auto keys = index.keys();
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("remove keeps every other item findable (swap-with-last)", "[index]") {
  const std::size_t n = 300, d = 8;
  Index index(d);
  const auto c = index.add_category("x");
  const auto data = dstest::random_vectors(n, d, 7);
  for (std::size_t i = 0; i < n; ++i) index.add(i, c, data.data() + i * d);
  for (std::size_t i = 0; i < n; i += 3) index.remove(i);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(index.contains(i) == (i % 3 != 0));
    if (i % 3 == 0) continue;
    const auto hits = index.search(data.data() + i * d, 1);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].key == i);
    CHECK(hits[0].distance == 0.0f);
  }
}

TEST_CASE("filters and category restriction", "[index]") {
  const std::size_t n = 200, d = 5;
  Index index(d);
  const auto even = index.add_category("even");
  const auto odd = index.add_category("odd");
  const auto data = dstest::random_vectors(n, d, 3);
  for (std::size_t i = 0; i < n; ++i) index.add(i, i % 2 ? odd : even, data.data() + i * d);
  for (const SearchHit& h : index.search(data.data(), 50, {odd})) {
    CHECK(h.key % 2 == 1);
    CHECK(h.category == odd);
  }
  const auto filtered = index.search(data.data(), 500, {}, [](std::uint64_t key) { return key < 10; });
  CHECK(filtered.size() == 10);
  for (const SearchHit& h : filtered) CHECK(h.key < 10);
  CHECK(index.search(data.data(), 1000).size() == n);  // k beyond the candidates returns what exists
}

TEST_CASE("bad arguments get clear errors and change nothing", "[index]") {
  Index index(3);
  const auto c = index.add_category("c");
  const float v[3] = {1, 2, 3};
  const float nan[3] = {1, std::numeric_limits<float>::quiet_NaN(), 3};
  const float inf[3] = {1, 2, std::numeric_limits<float>::infinity()};
  index.add(1, c, v);
  const auto status = dstest::status_of;
  CHECK(status([&] { index.search(v, 0); }) == Status::InvalidArgument);
  CHECK(status([&] { index.search(nan, 1); }) == Status::InvalidArgument);
  CHECK(status([&] { index.search(v, 1, {7}); }) == Status::NotFound);
  CHECK(status([&] { index.add(2, c, inf); }) == Status::InvalidArgument);
  CHECK(status([&] { index.add(1, c, v); }) == Status::AlreadyExists);
  CHECK(status([&] { index.add(3, 5, v); }) == Status::NotFound);
  CHECK(status([&] { index.remove(42); }) == Status::NotFound);
  CHECK(status([&] { index.get(42); }) == Status::NotFound);
  CHECK(status([&] { index.get_metadata(42); }) == Status::NotFound);
  CHECK(status([&] { index.category_id("nope"); }) == Status::NotFound);
  CHECK(status([&] { index.add_category(""); }) == Status::InvalidArgument);
  CHECK(status([] { Index bad(0); }) == Status::InvalidArgument);

  // A batch with one bad item inserts nothing.
  const std::uint64_t keys[3] = {10, 11, 12};
  const std::int32_t cats[3] = {c, c, c};
  float rows[9] = {1, 1, 1, 2, 2, 2, 3, 3, std::numeric_limits<float>::quiet_NaN()};
  CHECK(status([&] { index.add_batch(ItemBatch{3, keys, cats, rows}); }) == Status::InvalidArgument);
  const std::uint64_t dup_keys[2] = {20, 20};
  CHECK(status([&] { index.add_batch(ItemBatch{2, dup_keys, cats, rows}); }) == Status::AlreadyExists);
  CHECK(index.size() == 1);

  // Masks must share one geometry.
  ContourMask m16(16), m32(32);
  index.add(5, c, v, "", &m16);
  CHECK(status([&] { index.add(6, c, v, "", &m32); }) == Status::InvalidArgument);
  CHECK(index.size() == 2);

  Index empty(3);
  CHECK(empty.search(v, 5).empty());
}

TEST_CASE("memory stays close to the raw vectors", "[index]") {
  const std::size_t n = 2000, d = 1024;
  Index index(d);
  const auto c = index.add_category("c");
  const auto data = dstest::random_vectors(n, d, 11);
  std::vector<std::uint64_t> keys(n);
  std::vector<std::int32_t> cats(n, c);
  for (std::size_t i = 0; i < n; ++i) keys[i] = i;
  index.add_batch(ItemBatch{n, keys.data(), cats.data(), data.data()});
  const double raw = static_cast<double>(n * d * sizeof(float));
  CHECK(index.memory_usage() >= raw);
  CHECK(index.memory_usage() <= 1.1 * raw);
}

TEST_CASE("the no-result key 2^64-1 is refused by every add and upsert", "[index][hostile]") {
  Index index(3);
  const auto c = index.add_category("c");
  const float v[3] = {1, 2, 3};
  const std::uint64_t none = std::numeric_limits<std::uint64_t>::max();  // the C ABI's DS_KEY_NONE
  try {
    index.add(none, c, v);
    FAIL("add accepted the key search results are padded with");
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    CHECK(std::string(e.what()).find("18446744073709551615") != std::string::npos);
  }
  CHECK(dstest::status_of([&] { index.upsert(none, c, v); }) == Status::InvalidArgument);
  const std::uint64_t keys[2] = {1, none};
  const std::int32_t cats[2] = {c, c};
  const float rows[6] = {1, 1, 1, 2, 2, 2};
  CHECK(dstest::status_of([&] { index.add_batch(ItemBatch{2, keys, cats, rows}); }) == Status::InvalidArgument);
  CHECK(index.size() == 0);  // all or none
  index.add(none - 1, c, v);  // the largest key an item may have
  index.upsert(none - 1, c, rows);
  CHECK(index.contains(none - 1));
  CHECK(index.search(v, 1).front().key == none - 1);
}

TEST_CASE("a k above the index's size lists the whole index without reserving k results", "[index][hostile]") {
  const std::size_t n = 40, d = 4;
  Index index(d);
  const auto a = index.add_category("a");
  const auto b = index.add_category("b");
  const auto data = dstest::random_vectors(n, d, 5);
  for (std::size_t i = 0; i < n; ++i) index.add(i, i % 4 == 0 ? b : a, data.data() + i * d);
  const std::size_t huge[] = {n + 1, std::size_t(1) << 40, std::size_t(1) << 60, std::numeric_limits<std::size_t>::max()};
  for (const std::size_t k : huge) {
    INFO("k = " << k);
    const auto hits = index.search(data.data(), k);
    REQUIRE(hits.size() == n);
    CHECK(hits.front().key == 0);
    CHECK(index.search(data.data(), k, {b}).size() == n / 4);
    CHECK(index.search(data.data(), k, {}, [](std::uint64_t key) { return key < 7; }).size() == 7);
    const auto batch = index.search_batch(data.data(), 3, k);
    REQUIRE(batch.size() == 3);
    for (std::size_t q = 0; q < 3; ++q) {
      CHECK(batch[q].size() == n);
      CHECK(batch[q].front().key == q);
    }
    CHECK(index.search_batch(data.data(), 2, k, {b}).at(1).size() == n / 4);
  }
  CHECK(dstest::status_of([&] { index.search(data.data(), 0); }) == Status::InvalidArgument);  // k = 0 stays an error
  CHECK(dstest::status_of([&] { index.search_batch(data.data(), 2, 0); }) == Status::InvalidArgument);
  Index empty(static_cast<int>(d));
  CHECK(empty.search(data.data(), std::numeric_limits<std::size_t>::max()).empty());
  empty.add_category("none yet");
  CHECK(empty.search_batch(data.data(), 2, std::numeric_limits<std::size_t>::max()).at(0).empty());
}
