// Search throughput and memory of domainsearch::Index next to faiss::IndexFlatL2, in one run, on
// the same random vectors (exact k-NN, k = 10). Usage:
//   bench_index_vs_faiss [--sizes 10000,100000,1000000] [--dims 1280,2048] [--batch 64] [--seconds 2]
// Each point: single-query QPS, batched QPS, and bytes per stored vector against the raw 4*d bytes.
#include <faiss/IndexFlat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <domainsearch/index.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 20000;
constexpr int kTopK = 10;

std::vector<std::size_t> parse_list(const char* text) {
  std::vector<std::size_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoull(item));
  return out;
}

// Rows [first, first+rows) of the deterministic data set: uniform [0,1), seeded per chunk.
std::vector<float> data_chunk(std::size_t chunk_index, std::size_t rows, std::size_t d) {
  std::mt19937 rng(static_cast<unsigned>(chunk_index * 7919 + d));
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(rows * d);
  for (float& x : v) x = u(rng);
  return v;
}

// Calls `run` (which serves `per_call` queries) until `seconds` pass (at least 3 calls); returns QPS.
template <typename F>
double measure_qps(F run, std::size_t per_call, double seconds) {
  run();  // warm-up
  const auto start = Clock::now();
  std::size_t calls = 0;
  double elapsed = 0;
  do {
    run();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds || calls < 3);
  return static_cast<double>(calls * per_call) / elapsed;
}

struct Point {
  double single_qps, batch_qps, bytes_per_vector;
};

Point bench_ours(std::size_t n, std::size_t d, const std::vector<float>& queries, std::size_t batch, double seconds) {
  domainsearch::Index index(static_cast<int>(d));
  const auto c = index.add_category("all");
  index.reserve(c, n);
  for (std::size_t first = 0, chunk = 0; first < n; first += kChunk, ++chunk) {
    const std::size_t rows = std::min(kChunk, n - first);
    const auto data = data_chunk(chunk, rows, d);
    std::vector<std::uint64_t> keys(rows);
    std::vector<std::int32_t> cats(rows, c);
    for (std::size_t i = 0; i < rows; ++i) keys[i] = first + i;
    index.add_batch(domainsearch::ItemBatch{rows, keys.data(), cats.data(), data.data()});
  }
  Point p{};
  std::size_t q = 0;
  p.single_qps = measure_qps([&] { index.search(queries.data() + (q++ % batch) * d, kTopK); }, 1, seconds);
  p.batch_qps = measure_qps([&] { index.search_batch(queries.data(), batch, kTopK); }, batch, seconds);
  p.bytes_per_vector = static_cast<double>(index.memory_usage()) / static_cast<double>(n);
  return p;
}

Point bench_faiss(std::size_t n, std::size_t d, const std::vector<float>& queries, std::size_t batch, double seconds) {
  faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(d));
  for (std::size_t first = 0, chunk = 0; first < n; first += kChunk, ++chunk) {
    const std::size_t rows = std::min(kChunk, n - first);
    index.add(static_cast<faiss::Index::idx_t>(rows), data_chunk(chunk, rows, d).data());
  }
  std::vector<float> dist(batch * kTopK);
  std::vector<faiss::Index::idx_t> labels(batch * kTopK);
  Point p{};
  std::size_t q = 0;
  p.single_qps = measure_qps([&] { index.search(1, queries.data() + (q++ % batch) * d, kTopK, dist.data(), labels.data()); }, 1, seconds);
  p.batch_qps = measure_qps([&] { index.search(static_cast<faiss::Index::idx_t>(batch), queries.data(), kTopK, dist.data(), labels.data()); }, batch, seconds);
  p.bytes_per_vector = static_cast<double>(index.codes.size()) / static_cast<double>(n);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes = {10000, 100000, 1000000}, dims = {1280, 2048};
  std::size_t batch = 64;
  double seconds = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--sizes")) sizes = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dims")) dims = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::stoull(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
    else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  std::printf("exact k-NN, k=%d, batch=%zu, uniform random float32 vectors\n", kTopK, batch);
  std::printf("%9s %5s | %12s %12s %6s | %12s %12s %6s | %10s %10s %6s\n", "n", "d", "ours 1q/s", "faiss 1q/s",
              "ratio", "ours bq/s", "faiss bq/s", "ratio", "ours B/vec", "raw B/vec", "ratio");
  for (std::size_t d : dims) {
    const auto queries = data_chunk(999999, batch, d);
    for (std::size_t n : sizes) {
      const Point ours = bench_ours(n, d, queries, batch, seconds);
      const Point theirs = bench_faiss(n, d, queries, batch, seconds);
      const double raw = 4.0 * static_cast<double>(d);
      std::printf("%9zu %5zu | %12.1f %12.1f %6.2f | %12.1f %12.1f %6.2f | %10.0f %10.0f %6.3f\n", n, d, ours.single_qps,
                  theirs.single_qps, ours.single_qps / theirs.single_qps, ours.batch_qps, theirs.batch_qps,
                  ours.batch_qps / theirs.batch_qps, ours.bytes_per_vector, raw, ours.bytes_per_vector / raw);
      std::fflush(stdout);
    }
  }
  return 0;
}
