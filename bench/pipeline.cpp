// End-to-end speed of the Pipeline with real models, the numbers a catalogue team asks for:
//   bench_pipeline --config C.json --catalogue-csv CAT.csv --queries-csv Q.csv [--index-count 240] [--query-count 30]
// Indexes index-count catalogue photos (spread evenly over the CSV) and reports images/s (decode +
// localise + embed + store); trains the category head; queries query-count photos one at a time and
// reports the median of each stage and of the total; reports the process's peak resident memory.
// Prints a table and, last, one JSON line (bench/pipeline_vs_reference.sh reads it).
#include "inference_process.hpp"
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <domainsearch/pipeline.hpp>
#include <string>
#include <vector>

using namespace domainsearch;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<CatalogueEntry> spread(const std::vector<CatalogueEntry>& all, std::size_t n) {
  std::vector<CatalogueEntry> out;
  for (std::size_t i = 0; i < std::min(n, all.size()); ++i) out.push_back(all[i * all.size() / std::min(n, all.size())]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  domainsearch::process::tune_process_for_inference();  // as the domainsearch command does
  std::string config_path, catalogue_csv, queries_csv;
  std::size_t index_count = 240, query_count = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--config") config_path = v;
    else if (k == "--catalogue-csv") catalogue_csv = v;
    else if (k == "--queries-csv") queries_csv = v;
    else if (k == "--index-count") index_count = std::stoul(v);
    else if (k == "--query-count") query_count = std::stoul(v);
    else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  if (config_path.empty() || catalogue_csv.empty() || queries_csv.empty())
    return std::fprintf(stderr, "usage: bench_pipeline --config C.json --catalogue-csv CAT.csv --queries-csv Q.csv [--index-count N] [--query-count M]\n"), 2;
  try {
    const PipelineConfig config = PipelineConfig::load(config_path);
    Pipeline pipeline(config);
    const IndexingReport indexed = pipeline.index_entries(spread(read_catalogue_csv(catalogue_csv), index_count));
    const double index_rate = indexed.added / indexed.seconds;
    const TrainingReport trained = pipeline.train_categories();
    std::vector<double> decode, localize, embed, categorize, search, rerank, total;
    for (const CatalogueEntry& q : spread(read_catalogue_csv(queries_csv), query_count)) {
      const StageTimings t = pipeline.query_file(q.path).timings;
      decode.push_back(t.decode_ms), localize.push_back(t.localize_ms), embed.push_back(t.embed_ms), categorize.push_back(t.categorize_ms);
      search.push_back(t.search_ms), rerank.push_back(t.rerank_ms), total.push_back(t.total_ms);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double peak_mib = usage.ru_maxrss / 1024.0;
    std::printf("config %s: localise %s, rerank %s\n", config_path.c_str(), config.localize ? "on" : "off", config.rerank == RerankMode::Off ? "off" : "on");
    std::printf("indexing: %zu photos in %.1f s = %.2f img/s; category head %.1f s\n", indexed.added, indexed.seconds, index_rate, trained.seconds);
    std::printf("query medians over %zu (ms): decode %.2f localise %.2f embed %.2f categorise %.3f search %.3f rerank %.3f total %.2f\n",
                total.size(), median(decode), median(localize), median(embed), median(categorize), median(search), median(rerank), median(total));
    std::printf("peak resident memory %.0f MiB\n", peak_mib);
    std::printf("{\"impl\":\"libdomainsearch\",\"localize\":%s,\"index_img_s\":%.3f,\"indexed\":%zu,\"queries\":%zu,\"decode_ms\":%.3f,\"localize_ms\":%.3f,"
                "\"embed_ms\":%.3f,\"categorize_ms\":%.4f,\"search_ms\":%.4f,\"rerank_ms\":%.4f,\"total_ms\":%.3f,\"peak_rss_mib\":%.1f}\n",
                config.localize ? "true" : "false", index_rate, indexed.added, total.size(), median(decode), median(localize), median(embed),
                median(categorize), median(search), median(rerank), median(total), peak_mib);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline: %s\n", e.what());
    return 1;
  }
  return 0;
}
