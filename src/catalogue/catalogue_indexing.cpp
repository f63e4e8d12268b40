#include "catalogue/catalogue.hpp"

#include <chrono>
#include <unordered_set>

#include "domainsearch/error.hpp"
#include "io/utf8.hpp"
#include "index/item_key.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Why an entry cannot go into a catalogue, whose file keeps paths, labels and categories in JSON (UTF-8
// only): one that is not UTF-8 (a Latin-1 "caf\xE9.jpg") fails its own row, before its image is decoded,
// instead of the save of the whole run. Empty when it can. Names the file with its bad bytes as \xNN.
std::string not_utf8(const CatalogueEntry& e) {
  static const std::string kRule = " is not valid UTF-8 (bytes that are not are shown as \\xNN); a catalogue stores paths, labels and categories as UTF-8";
  if (!is_valid_utf8(e.path)) return escape_non_utf8(e.path) + ": the file name" + kRule;
  if (!is_valid_utf8(e.label)) return e.path + ": its label \"" + escape_non_utf8(e.label) + "\"" + kRule;
  if (!is_valid_utf8(e.category)) return e.path + ": its category \"" + escape_non_utf8(e.category) + "\"" + kRule;
  return {};
}

}  // namespace

std::vector<EntryAnalysis> Catalogue::analyze_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) const {
  std::vector<EntryAnalysis> out(entries.size());
  std::vector<std::size_t> todo;  // the entries indexing would take: not those that are not UTF-8
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string why = not_utf8(entries[i]);
    if (why.empty()) todo.push_back(i);
    else out[i] = EntryAnalysis{std::nullopt, std::move(why), Status::InvalidArgument};
  }
  const bool finished = analyzer_.analyze_files(*current_extractor(), entries, todo, progress, [&](std::size_t entry, EntryAnalysis&& outcome) {
    if (outcome.analysis) outcome.analysis->localization.reset();  // full-size images: too large to keep for thousands
    out[entry] = std::move(outcome);
  });
  if (!finished) throw Error(Status::Cancelled, "analysing images cancelled");
  return out;
}

IndexingReport Catalogue::index_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) {
  const std::lock_guard<std::mutex> writing(writer_);
  const auto start = Clock::now();
  IndexingReport report;
  std::vector<std::size_t> todo;
  std::unordered_set<std::uint64_t> seen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (std::string why = not_utf8(entries[i]); !why.empty()) {
      report.failures.push_back({escape_non_utf8(entries[i].path), std::move(why)});  // the path as it can be printed or saved
      continue;
    }
    const std::uint64_t key = entries[i].key.value_or(key_for_path(entries[i].path));
    if (entries[i].category.empty()) report.failures.push_back({entries[i].path, "no category given"});
    else if (key == kNoResultKey) {
      try {
        check_item_key(key);
      } catch (const Error& e) {
        report.failures.push_back({entries[i].path, e.what()});
      }
    } else if (index().contains(key) || !seen.insert(key).second) ++report.skipped_existing;
    else todo.push_back(i);
  }
  // One network for the whole run: writers hold `writer_`, so fine-tuning cannot replace it meanwhile.
  report.cancelled = !analyzer_.analyze_files(*current_extractor(), entries, todo, progress, [&](std::size_t entry, EntryAnalysis&& outcome) {
    const CatalogueEntry& e = entries[entry];
    try {
      if (!outcome.analysis) throw Error(outcome.status, outcome.error);
      std::unique_lock<std::shared_mutex> lock(mutex_);
      store(e.key.value_or(key_for_path(e.path)), *outcome.analysis, e.category, e.label, e.path, false);
      ++report.added;
    } catch (const Error& err) {
      report.failures.push_back({e.path, err.what()});
    }
  });
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace domainsearch::detail
