// Minimal C++ consumer: open a catalogue and query one photo.
//   query_cpp CONFIG.json CATALOGUE.dscat PHOTO.jpg
// Build against an installed libdomainsearch: see CMakeLists.txt beside this file.
#include <domainsearch/error.hpp>
#include <domainsearch/pipeline.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s CONFIG.json CATALOGUE.dscat PHOTO\n", argv[0]);
    return 2;
  }
  try {
    const domainsearch::Pipeline pipeline = domainsearch::Pipeline::open(argv[2], domainsearch::PipelineConfig::load(argv[1]));
    domainsearch::QueryOptions options;
    options.k = 5;
    const domainsearch::QueryResponse response = pipeline.query_file(argv[3], options);
    for (const domainsearch::QueryResult& r : response.results)
      std::printf("%-30s %-16s distance %.4f\n", r.label.c_str(), r.category.c_str(), r.distance);
    return 0;
  } catch (const domainsearch::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", domainsearch::status_name(e.status()), e.what());
    return 1;
  }
}
