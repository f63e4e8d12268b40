#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "domainsearch/index.hpp"
#include "test_util.hpp"

using namespace domainsearch;

namespace {

constexpr std::size_t kDim = 16;

// Each key's embedding is a pure function of the key, so any hit can be verified on its own.
std::vector<float> embedding_of(std::uint64_t key) {
  return dstest::random_vectors(1, kDim, static_cast<std::uint32_t>(key * 2654435761u));
}

float distance(const std::vector<float>& a, const float* b) {
  double s = 0;
  for (std::size_t i = 0; i < kDim; ++i) s += (a[i] - b[i]) * double(a[i] - b[i]);
  return static_cast<float>(s);
}

}  // namespace

TEST_CASE("concurrent searches with adds / upserts and removes stay consistent", "[index][concurrency]") {
  Index index(kDim);
  const auto c0 = index.add_category("a");
  const auto c1 = index.add_category("b");
  // Stable keys 0..199 are never touched by the writer; volatile keys 1000+ come and go.
  for (std::uint64_t k = 0; k < 200; ++k) index.add(k, k % 2 ? c1 : c0, embedding_of(k).data());

  std::atomic<bool> stop{false};
  std::atomic<long> searches{0}, failures{0};
  auto reader = [&](unsigned seed) {
    std::mt19937 rng(seed);
    while (!stop) {
      const std::uint64_t target = rng() % 200;
      const auto q = embedding_of(target);
      const auto hits = rng() % 2 ? index.search(q.data(), 5) : index.search_batch(q.data(), 1, 5)[0];
      bool ok = hits.size() == 5 && hits[0].key == target && hits[0].distance == 0.0f;
      for (std::size_t i = 0; i < hits.size(); ++i) {
        ok = ok && std::abs(hits[i].distance - distance(embedding_of(hits[i].key), q.data())) < 1e-4f;
        if (i > 0) ok = ok && hits[i - 1].distance <= hits[i].distance;
      }
      failures += !ok;
      ++searches;
    }
  };
  auto writer = [&] {
    std::mt19937 rng(99);
    std::uint64_t next = 1000;
    std::vector<std::uint64_t> live;
    while (!stop) {
      const unsigned op = rng() % 3;
      if (op == 0 || live.empty()) {
        index.add(next, rng() % 2 ? c1 : c0, embedding_of(next).data());
        live.push_back(next++);
      } else if (op == 1) {
        const std::uint64_t k = live[rng() % live.size()];
        index.upsert(k, rng() % 2 ? c1 : c0, embedding_of(k).data());
      } else {
        const std::size_t i = rng() % live.size();
        index.remove(live[i]);
        live[i] = live.back();
        live.pop_back();
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 3; ++t) threads.emplace_back(reader, t + 1);
  threads.emplace_back(writer);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(searches > 100);
  CHECK(failures == 0);
}
