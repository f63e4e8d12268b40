// Soak: many threads query one Pipeline while another thread adds and removes items, until a number
// of queries is served. Fails on any inconsistent result or on resident memory that keeps growing
// after warm-up. Usage: soak MODEL_DIR [QUERIES=10000] [THREADS=3]
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"

using namespace domainsearch;

namespace {

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1048576.0;
}

Image picture(int i) {
  Image im(64, 48);
  for (int y = 8; y < 16 + (i % 7) * 4 && y < 48; ++y)
    for (int x = 6; x < 14 + (i % 11) * 4 && x < 64; ++x) {
      std::uint8_t* p = im.data() + y * im.stride() + x * 3;
      p[0] = static_cast<std::uint8_t>(37 * i), p[1] = static_cast<std::uint8_t>(200 - 13 * i), p[2] = 90;
    }
  return im;
}

}  // namespace

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  if (argc < 2) {
    std::fprintf(stderr, "usage: soak MODEL_DIR [QUERIES] [THREADS]\n");
    return 2;
  }
  const long target = argc > 2 ? std::stol(argv[2]) : 10000;
  const int threads = argc > 3 ? std::stoi(argv[3]) : 3;
  PipelineConfig config;
  config.backbone_manifest = std::string(argv[1]) + "/backbone.json";
  config.segmenter_manifest = std::string(argv[1]) + "/segmenter.json";
  config.localize = true;
  config.rerank = RerankMode::Fused;
  config.category_mode = CategoryMode::Off;
  config.runtime.threads = 1;
  Pipeline pipeline(config);
  const int stable = 40;
  std::vector<Image> images;
  for (int i = 0; i < stable; ++i) images.push_back(picture(i));
  for (int i = 0; i < stable; ++i) pipeline.add(static_cast<std::uint64_t>(i), images[static_cast<std::size_t>(i)], i % 2 ? "a" : "b");

  std::atomic<long> served{0}, wrong{0}, errors{0}, mutations{0};
  std::atomic<bool> stop{false};
  double rss_warm = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (long n = t; !stop; ++n) {
        const int i = static_cast<int>(n % stable);
        try {
          const QueryResponse r = pipeline.query(images[static_cast<std::size_t>(i)]);
          // Identical pictures may share a distance; the query's own key must be among the equally near.
          bool found = false;
          for (const QueryResult& h : r.results) found = found || (h.key == static_cast<std::uint64_t>(i) && h.distance < 1e-5f);
          wrong += !found;
        } catch (const Error&) {
          ++errors;
        }
        const long done = ++served;
        if (done == target / 10) rss_warm = rss_mib();
        if (done >= target) stop = true;
      }
    });
  std::thread writer([&] {
    for (std::uint64_t key = 100000; !stop; ++key) {
      pipeline.add(key, images[key % stable], "volatile");
      if (key % 3 != 0) pipeline.remove(key);
      ++mutations;
    }
  });
  for (auto& t : pool) t.join();
  writer.join();
  const double rss_end = rss_mib();
  std::printf("soak: %ld queries on %d threads, %ld adds/removes meanwhile, %ld wrong results, %ld errors; "
              "RSS after warm-up %.1f MiB, at the end %.1f MiB (%+.1f%%)\n",
              served.load(), threads, mutations.load(), wrong.load(), errors.load(), rss_warm, rss_end,
              100.0 * (rss_end - rss_warm) / rss_warm);
  // The catalogue grows by the kept volatile items (1 in 3); allow for that and for allocator noise.
  const bool flat = rss_end < rss_warm * 1.10 + 8.0;
  return wrong == 0 && errors == 0 && flat ? 0 : 1;
}
