// domainsearch: the command-line tool over libdomainsearch's Pipeline.
//   domainsearch index   --config C.json --catalogue CAT (--csv FILE | --folder DIR) [--no-train]
//   domainsearch index   --config C.json --catalogue FOLDER --csv FILE --shards N [--no-train]
//   domainsearch add     --config C.json --catalogue CAT --image PATH --category NAME [--label L] [--key K]
//   domainsearch remove  --config C.json --catalogue CAT --key K
//   domainsearch train   --config C.json --catalogue CAT
//   domainsearch query   --config C.json --catalogue CAT [--catalogue CAT2...] IMAGE... [--k N] [--category NAME] [--json] [--html FILE]
//   domainsearch inspect --catalogue CAT [--json]
//   domainsearch eval    --config C.json --catalogue-csv CAT.csv --queries-csv Q.csv [--ablate] [--json-file FILE] [--plot PREFIX] ...
//   domainsearch completion bash
//   domainsearch --version | --help | COMMAND --help   (parsed with CLI11: src/cli/command_line.hpp)
// Exit codes: 0 ok, 1 a library, file-system or out-of-memory error (message on stderr), 2 bad usage
// (a short message and where to read the command's usage), 3 index finished but some rows failed (each
// one named on stderr; the others are saved), 130 interrupted (Ctrl-C, SIGTERM or SIGHUP: index saves
// what it indexed before; an interrupted training leaves the catalogue as it was).
// --json writes 64-bit keys as JSON strings (JavaScript and jq lose integers above 2^53). Progress goes to
// stderr: redrawn in place on a terminal, plain lines (no carriage returns) in a log file or a pipe.
// A writer waits for another writer's lock on the catalogue at most DOMAINSEARCH_LOCK_WAIT_S seconds
// (default 600), saying so; Ctrl-C gives up.
#include <domainsearch/error.hpp>
#include <domainsearch/catalogue_lock.hpp>
#include <domainsearch/evaluation.hpp>
#include <domainsearch/pipeline.hpp>
#include <domainsearch/shards.hpp>
#include <domainsearch/version.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "eval_report.hpp"
#include "html_report.hpp"
#include "object_report.hpp"
#include "inference_process.hpp"
#include "query_verdict.hpp"
#include "command_line.hpp"

using namespace domainsearch;
using domainsearch::cli::Args;
using domainsearch::cli::UsageError;
using domainsearch::cli::integer_option;
using domainsearch::cli::probability_option;

namespace {

// Exit codes (see the top of this file).
constexpr int kExitError = 1, kExitUsage = 2, kExitSomeFailed = 3, kExitInterrupted = 130;

using Json = nlohmann::ordered_json;  // keys in the order written

std::atomic<bool> g_interrupted{false};
// The first Ctrl-C (or SIGTERM/SIGHUP to a writing command) asks the work to stop cleanly; a second one
// ends the process at once, as if no handler were installed.
void on_interrupt(int signal) {
  if (g_interrupted.exchange(true)) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}
bool not_interrupted() { return !g_interrupted.load(); }

// The writer lock of `catalogue`, waited for at most DOMAINSEARCH_LOCK_WAIT_S seconds (default 600) with
// a message when another writer holds it; Ctrl-C ends the wait (Cancelled, exit 130).
CatalogueLock lock_for_writing(const std::string& catalogue) {
  try {
    return CatalogueLock(catalogue, std::chrono::milliseconds(0));
  } catch (const Error& e) {
    if (e.status() != Status::Conflict) throw;
  }
  long seconds = 600;
  if (const char* env = std::getenv("DOMAINSEARCH_LOCK_WAIT_S"); env && *env) {
    char* end = nullptr;
    errno = 0;
    seconds = std::strtol(env, &end, 10);
    if (*end != '\0' || errno != 0 || seconds < 0 || seconds > 31'536'000)
      throw UsageError("DOMAINSEARCH_LOCK_WAIT_S must be a whole number of seconds in 0..31536000, got \"" + std::string(env) + "\"");
  }
  std::fprintf(stderr, "%s is being changed by another writer; waiting up to %ld s for its lock (Ctrl-C gives up)\n", catalogue.c_str(), seconds);
  return CatalogueLock(catalogue, std::chrono::seconds(seconds), not_interrupted);
}

// A float as JSON writes it in its shortest decimal (0.1f as 0.1, not 0.10000000149011612); NaN and
// infinities stay as they are (JSON writes null).
double decimal(float x) {
  char text[32];
  for (int digits = 6; digits <= 9 && std::isfinite(x); ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(x));
    if (digits == 9 || std::strtof(text, nullptr) == x) return std::strtod(text, nullptr);
  }
  return x;
}

// Milliseconds to the microsecond.
double ms(double x) { return std::round(x * 1000.0) / 1000.0; }

// One line of JSON; a string that is not UTF-8 (a Latin-1 file name) gets U+FFFD instead of failing.
std::string json_line(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// printf into a std::string.
__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  va_list args, again;
  va_start(args, fmt);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

// "PATH: REASON", or REASON alone when it already names PATH (a decoder's message does).
std::string about(const std::string& path, const std::string& reason) {
  return reason.find(path) != std::string::npos ? reason : path + ": " + reason;
}

void report_failures(const std::vector<IndexingFailure>& failures) {
  for (const IndexingFailure& f : failures) std::fprintf(stderr, "skipped %s\n", about(f.path, f.reason).c_str());
}

bool stderr_is_terminal() {
  static const bool terminal = isatty(fileno(stderr)) == 1;
  return terminal;
}

// What ends a progress line before another message: a newline on a terminal (the line is still open).
const char* after_progress() { return stderr_is_terminal() ? "\n" : ""; }

// Progress lines on stderr. On a terminal each report redraws the line. Otherwise (a log file, a pipe)
// plain lines: the first report of a stage, each tenth of a stage without epochs, each epoch's end, the
// last report, and one at least every 5 s in between.
class ProgressLines {
 public:
  void show(const std::string& stage, int epoch, std::size_t done, std::size_t total, const std::string& line) {
    if (stderr_is_terminal()) std::fprintf(stderr, "\r%s%s", line.c_str(), done == total ? "\n" : "");
    else if (due(stage, epoch, done, total)) std::fprintf(stderr, "%s\n", line.substr(0, line.find_last_not_of(' ') + 1).c_str());
  }

 private:
  bool due(const std::string& stage, int epoch, std::size_t done, std::size_t total) {
    const auto now = std::chrono::steady_clock::now();
    const int tenth = total ? static_cast<int>(10 * done / total) : 10;
    const bool write = !started_ || stage != stage_ || done == total || (epoch == 0 && tenth != tenth_) || now - last_ >= std::chrono::seconds(5);
    if (write) started_ = true, stage_ = stage, tenth_ = tenth, last_ = now;
    return write;
  }
  bool started_ = false;
  std::string stage_;
  int tenth_ = -1;
  std::chrono::steady_clock::time_point last_;
};

// Progress bar with rate (images, or batches while fine-tuning in eval) and ETA on stderr; returns false after Ctrl-C.
ProgressFn progress_bar(std::string what) {
  const auto start = std::chrono::steady_clock::now();
  return [what = std::move(what), start, lines = std::make_shared<ProgressLines>()](std::size_t done, std::size_t total) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = s > 0 ? done / s : 0;
    const int width = 30, filled = total ? static_cast<int>(width * done / total) : width;
    const double eta = rate > 0 ? (total - done) / rate : 0;
    lines->show(what, 0, done, total,
                format("%s [%s%s] %zu/%zu  %.1f/s  ETA %dm%02ds ", what.c_str(), std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                       done, total, rate, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60));
    return !g_interrupted.load();
  };
}

// Training progress on stderr (stage, epoch, loss, ETA); returns false after Ctrl-C.
TrainingProgressFn training_progress() {
  return [lines = std::make_shared<ProgressLines>()](const TrainingProgress& t) {
    const int width = 30, filled = t.total ? static_cast<int>(width * t.done / t.total) : width;
    std::string stage = t.stage;
    if (t.epoch > 0) stage += " epoch " + std::to_string(t.epoch) + "/" + std::to_string(t.epochs);
    std::string line = format("%-26s [%s%s] %zu/%zu", stage.c_str(), std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), t.done, t.total);
    if (t.epoch > 0) line += format("  loss %.3f", static_cast<double>(t.loss));
    if (t.eta_seconds >= 0) line += format("  ETA %dm%02ds ", static_cast<int>(t.eta_seconds) / 60, static_cast<int>(t.eta_seconds) % 60);
    lines->show(t.stage, t.epoch, t.done, t.total, line);
    return !g_interrupted.load();
  };
}

void print_fine_tuning(const Pipeline& p, const FineTuningReport& r) {
  std::printf("fine-tuned the backbone from stage %d on %zu photos (%zu cached views, %zu items, %zu unreadable): cache %.1f s (%.0f MiB%s), "
              "training %.1f s (final loss %.3f), re-embedding %.1f s; temperature %.2f, held-out item accuracy %.3f\n",
              p.config().fine_tuning.first_stage, r.photos, r.views, r.items, r.skipped, r.cache_seconds, r.cache_bytes / 1048576.0,
              r.cache_spilled ? ", in a temporary file" : "", r.training_seconds, static_cast<double>(r.final_loss), r.reembedding_seconds,
              static_cast<double>(r.temperature), static_cast<double>(r.calibration_accuracy));
  for (const IndexingFailure& f : r.dropped) std::fprintf(stderr, "dropped from the catalogue (its image could not be re-embedded): %s\n", f.reason.c_str());
}

PipelineConfig config_of(const Args& a) { return PipelineConfig::load(a.need("config")); }

Pipeline open_or_create(const Args& a) {
  const std::string& catalogue = a.need("catalogue");
  return std::filesystem::exists(catalogue) ? Pipeline::open(catalogue, config_of(a)) : Pipeline(config_of(a));
}

void print_training(const Pipeline& p, const TrainingReport& t) {
  std::printf("trained the category head on %zu embeddings: %d epochs (best %d), validation accuracy %.3f, %.1f s\n", t.samples, t.epochs, t.best_epoch,
              t.best_validation_accuracy, t.seconds);
  if (p.has_embedding_adaptation()) std::printf("searches run in the catalogue-adapted embedding (trained on the item labels)\n");
}

// Decodes and analyses training photos; unreadable ones are reported and skipped.
TrainingReport train_on_photos(Pipeline& p, const std::vector<CatalogueEntry>& entries) {
  std::vector<EntryAnalysis> analysed = p.analyze_entries(entries, progress_bar("analysing training photos"));
  std::vector<ImageAnalysis> analyses;
  std::vector<std::string> categories, labels;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!analysed[i].analysis) {
      std::fprintf(stderr, "skipped %s\n", about(entries[i].path, analysed[i].error).c_str());
      continue;
    }
    analyses.push_back(std::move(*analysed[i].analysis));
    categories.push_back(entries[i].category);
    labels.push_back(entries[i].label);
  }
  return p.train_categories(analyses, categories, labels, training_progress());
}

// Why the catalogue cannot learn what the configuration asks for ("" when it can): fine-tuning learns
// items, so it needs 2 item labels whatever the number of categories; a category head needs 2 categories
// (with one, the category gate has nothing to choose and every query searches the whole catalogue).
std::string why_not_train(const Pipeline& p) {
  if (p.is_fine_tuned() && !p.config().fine_tuning.enabled)
    return "the catalogue is fine-tuned and this configuration does not fine-tune; new items are embedded by its fine-tuned "
           "network (retrain with a configuration that enables fine_tuning)";
  if (p.config().fine_tuning.enabled) {
    std::set<std::string> labels;
    for (const std::uint64_t key : p.index().keys()) {
      labels.insert(p.index().get_metadata(key).label);
      if (labels.size() >= 2) return "";
    }
    return "fine-tuning learns to tell items apart and the catalogue holds " + std::to_string(labels.size()) + " item label(s); it needs 2";
  }
  if (p.index().category_count() < 2)
    return "the category head needs 2 categories and the catalogue has " + std::to_string(p.index().category_count()) +
           " (queries search it whole); fine-tuning (\"fine_tuning\": {\"enabled\": true}) learns from any number of categories";
  return "";
}

// Trains what the configuration asks for: fine-tuning (on `photos`, or the catalogue's own), or the
// category head (and adaptation) on the catalogue's embeddings.
void train(Pipeline& p, const std::vector<CatalogueEntry>& photos = {}) {
  if (p.config().fine_tuning.enabled) return print_fine_tuning(p, p.fine_tune(photos, training_progress()));
  print_training(p, photos.empty() ? p.train_categories(training_progress()) : train_on_photos(p, photos));
}

// The categories of `rows` in order of first appearance: how one catalogue indexing them would number
// them (a row without a category is reported by indexing, as one catalogue does).
std::vector<std::string> categories_of(const std::vector<CatalogueEntry>& rows) {
  std::vector<std::string> out;
  for (const CatalogueEntry& e : rows)
    if (!e.category.empty() && std::find(out.begin(), out.end(), e.category) == out.end()) out.push_back(e.category);
  return out;
}

struct ShardsIndexed {
  std::vector<std::string> paths;  // the shard files
  std::size_t added = 0, failed = 0;
};

// Indexes rows into shard catalogues made from the template.
ShardsIndexed index_shards(const std::string& folder, const std::vector<CatalogueEntry>& rows, std::size_t n, const PipelineConfig& config,
                           ShardSetManifest& manifest) {
  std::vector<std::vector<CatalogueEntry>> parts(n);
  for (const CatalogueEntry& e : rows) parts[shard_of_key(e.key.value_or(Pipeline::key_for_path(e.path)), n)].push_back(e);
  ShardsIndexed out;
  for (std::size_t s = 0; s < n; ++s) {
    Pipeline shard = Pipeline::open((std::filesystem::path(folder) / manifest.template_file).string(), config);
    const IndexingReport r = shard.index_entries(parts[s], progress_bar("shard " + std::to_string(s + 1) + "/" + std::to_string(n)));
    report_failures(r.failures);
    if (r.cancelled) throw Error(Status::Cancelled, "interrupted while indexing shard " + std::to_string(s) + "; no shard set was published in " + folder);
    manifest.shards.push_back(ShardSetManifest::shard_file_name(s, n));
    out.paths.push_back((std::filesystem::path(folder) / manifest.shards.back()).string());
    shard.save(out.paths.back());
    out.added += r.added;
    out.failed += r.failures.size();
  }
  return out;
}

// index --shards N: a new shard set folder (shards.hpp). The template (every category, and the fine-tuned
// network when configured) is made first, each shard is indexed from it, then the category head is
// trained once across the shards and installed in each; shards.json is published last.
int cmd_index_sharded(const Args& a) {
  namespace fs = std::filesystem;
  const std::string folder = a.need("catalogue");
  if (!a.options.count("csv")) throw UsageError("index --shards needs --csv (the rows to distribute)");
  if (fs::exists(folder) && !fs::is_directory(folder)) throw Error(Status::AlreadyExists, folder + " exists and is not a folder");
  fs::create_directories(folder);
  const CatalogueLock writing = lock_for_writing((fs::path(folder) / "shards.json").string());  // checked under the lock: two builds cannot both pass
  if (fs::exists(fs::path(folder) / "shards.json"))
    throw Error(Status::AlreadyExists, folder + " already holds a shard set; build a new one in another folder");
  const PipelineConfig config = config_of(a);
  const std::vector<CatalogueEntry> rows = read_catalogue_csv(a.need("csv"));
  ShardSetManifest manifest;
  Pipeline model(config);
  std::size_t categories = 0;
  for (const std::string& category : categories_of(rows)) {  // one at a time: a bad name costs only its rows
    try {
      model.add_categories({category});
      ++categories;
    } catch (const Error& e) {
      if (e.status() != Status::InvalidArgument) throw;
      std::fprintf(stderr, "skipped a category (%s): its rows fail below\n", e.what());
    }
  }
  std::set<std::string> labels;
  for (const CatalogueEntry& e : rows) labels.insert(e.label);
  // Fine-tuning learns items (2 labels, any number of categories); a category head needs 2 categories.
  const bool train_now = !a.has("no-train") && (config.fine_tuning.enabled ? labels.size() >= 2 : categories >= 2);
  if (!a.has("no-train") && !train_now)
    std::fprintf(stderr, "not training: %s\n", config.fine_tuning.enabled ? "fine-tuning needs rows of 2 item labels" : "the category head needs 2 categories");
  if (train_now && config.fine_tuning.enabled) print_fine_tuning(model, model.fine_tune(rows, training_progress()));
  const std::string template_path = (fs::path(folder) / manifest.template_file).string();
  model.save(template_path);
  const auto [paths, added, failed] = index_shards(folder, rows, integer_option(a, "shards"), config, manifest);
  if (added == 0) throw Error(Status::InvalidArgument, "none of the " + std::to_string(rows.size()) + " images could be indexed; no shard set was published");
  if (train_now && !config.fine_tuning.enabled) {
    print_training(model, train_category_model_on_shards(model, paths));
    model.save(template_path);
    for (const std::string& path : paths) {
      Pipeline shard = Pipeline::open(path, config);
      shard.install_category_model(model);
      shard.save(path);
    }
  }
  manifest.model_fingerprint = model.model_fingerprint();
  manifest.save(folder);
  std::printf("indexed %zu of %zu images into %zu shards in %s (model fingerprint %.16s...)\n", added, rows.size(), paths.size(), folder.c_str(),
              manifest.model_fingerprint.c_str());
  return failed ? kExitSomeFailed : 0;
}

int cmd_index(const Args& a) {
  if (a.options.count("shards")) return cmd_index_sharded(a);
  const CatalogueLock writing = lock_for_writing(a.need("catalogue"));  // the whole open-modify-save: concurrent writers wait their turn (bounded)
  Pipeline p = open_or_create(a);
  const IndexingReport r = a.options.count("csv") ? p.index_csv(a.need("csv"), progress_bar("indexing"))
                                                  : p.index_folder(a.need("folder"), progress_bar("indexing"));
  if (r.cancelled) std::fprintf(stderr, "%sinterrupted: saving the %zu items indexed so far\n", after_progress(), r.added);
  report_failures(r.failures);
  std::printf("indexed %zu new images in %.1f s (%.1f img/s); %zu already present, %zu failed; catalogue holds %zu items in %zu categories\n",
              r.added, r.seconds, r.seconds > 0 ? r.added / r.seconds : 0.0, r.skipped_existing, r.failures.size(), p.index().size(),
              p.index().category_count());
  if (r.added == 0 && r.skipped_existing == 0 && !r.failures.empty()) {
    std::fprintf(stderr, "error: none of the %zu images could be indexed; %s left unchanged\n", r.failures.size(), a.need("catalogue").c_str());
    return kExitError;
  }
  bool interrupted = r.cancelled;
  const std::string skip = interrupted || a.has("no-train") || (r.added == 0 && p.has_category_head()) ? "" : why_not_train(p);
  if (!skip.empty()) std::fprintf(stderr, "not training: %s\n", skip.c_str());
  if (!interrupted && skip.empty() && !a.has("no-train") && (r.added > 0 || !p.has_category_head())) {
    try {
      train(p);
    } catch (const Error& e) {
      if (e.status() != Status::Cancelled) throw;
      std::fprintf(stderr, "%sinterrupted while training: saving the %zu new items with the models they had before\n", after_progress(), r.added);
      interrupted = true;
    }
  }
  p.save(a.need("catalogue"));
  std::printf("saved %s\n", a.need("catalogue").c_str());
  if (interrupted) return kExitInterrupted;
  if (!r.failures.empty())
    std::fprintf(stderr, "%zu of the images could not be indexed (named above); the others are saved (exit status %d)\n", r.failures.size(), kExitSomeFailed);
  return r.failures.empty() ? 0 : kExitSomeFailed;
}

int cmd_add(const Args& a) {
  const CatalogueLock writing = lock_for_writing(a.need("catalogue"));  // the whole open-modify-save: concurrent writers wait their turn (bounded)
  Pipeline p = open_or_create(a);
  const std::string& path = a.need("image");
  const std::uint64_t key = a.options.count("key") ? integer_option(a, "key") : Pipeline::key_for_path(path);
  const Image image = p.decode_file(path);
  const std::string& category = a.need("category");
  const AddOutcome added = a.has("upsert") ? p.upsert(key, image, category, a.get("label", path), path)
                                           : p.add(key, image, category, a.get("label", path), path);
  p.save(a.need("catalogue"));
  std::printf("added key %llu; catalogue holds %zu items\n", static_cast<unsigned long long>(key), p.index().size());
  if (added.untrained_category)
    std::fprintf(stderr, "warning: the category model was trained before category \"%s\" existed and cannot predict it; queries search "
                         "it too until you run `domainsearch train`\n", category.c_str());
  return 0;
}

int cmd_remove(const Args& a) {
  const CatalogueLock writing = lock_for_writing(a.need("catalogue"));  // the whole open-modify-save: concurrent writers wait their turn (bounded)
  Pipeline p = Pipeline::open(a.need("catalogue"), config_of(a));
  p.remove(integer_option(a, "key"));
  p.save(a.need("catalogue"));
  std::printf("removed key %s; catalogue holds %zu items\n", a.need("key").c_str(), p.index().size());
  return 0;
}

int cmd_train(const Args& a) {
  const CatalogueLock writing = lock_for_writing(a.need("catalogue"));  // the whole open-modify-save: concurrent writers wait their turn (bounded)
  Pipeline p = Pipeline::open(a.need("catalogue"), config_of(a));
  train(p, a.options.count("csv") ? read_catalogue_csv(a.need("csv")) : std::vector<CatalogueEntry>{});
  p.save(a.need("catalogue"));
  std::printf("saved %s\n", a.need("catalogue").c_str());
  return 0;
}

void print_table(const std::string& path, const QueryResponse& r, const NoMatchRules& rules) {
  std::printf("\n%s\n", path.c_str());
  if (!r.predicted.empty()) std::printf("  predicted: %s (%.2f)\n", r.predicted[0].category.c_str(), r.predicted[0].probability);
  if (r.localization) std::printf("  localisation confidence %.2f%s\n", r.localization->confidence, r.localization->fallback ? " (fallback)" : "");
  if (r.confidence >= 0) std::printf("  confidence %.3f (that the first item is right)\n", static_cast<double>(r.confidence));
  if (r.no_match) std::printf("  NO MATCH: %s\n", no_match_reason(r, rules).c_str());
  std::printf("  %-4s %-28s %-16s %10s %6s %8s %6s %6s\n", "rank", "label", "category", "distance", "IoU", "score", "match", "photos");
  for (std::size_t i = 0; i < r.results.size(); ++i) {
    const QueryResult& h = r.results[i];
    char match[16] = "-", photos[24] = "-";
    if (h.match_probability >= 0) std::snprintf(match, sizeof match, "%.3f", static_cast<double>(h.match_probability));
    if (!h.photos.empty()) std::snprintf(photos, sizeof photos, "%zu", h.photos.size());
    std::printf("  %-4zu %-28.28s %-16.16s %10.4f %6.3f %8.4f %6s %6s\n", i + 1, h.label.c_str(), h.category.c_str(), h.distance, h.iou, h.score,
                match, photos);
  }
  const StageTimings& t = r.timings;
  std::printf("  %.1f ms (decode %.1f, localise %.1f, embed %.1f, categorise %.2f, search %.2f, rerank %.2f)\n", t.total_ms, t.decode_ms,
              t.localize_ms, t.embed_ms, t.categorize_ms, t.search_ms, t.rerank_ms);
}

// One query's answer as JSON (answered under `rules`); keys as strings (exact above 2^53), "no_match_reason" null when it matched.
Json response_json(const std::string& path, const QueryResponse& r, const NoMatchRules& rules) {
  Json predicted = Json::array(), results = Json::array();
  for (const NamedCategoryScore& p : r.predicted) predicted.push_back(Json{{"category", p.category}, {"probability", decimal(p.probability)}});
  for (const QueryResult& h : r.results) {
    Json photos = Json::array();  // empty when the answer lists photos
    for (const ItemPhoto& photo : h.photos) photos.push_back(Json{{"key", std::to_string(photo.key)}, {"distance", decimal(photo.distance)}});
    results.push_back(Json{{"key", std::to_string(h.key)}, {"label", h.label}, {"category", h.category}, {"source", h.source},
                           {"distance", decimal(h.distance)}, {"iou", decimal(h.iou)}, {"score", decimal(h.score)},
                           {"match_probability", decimal(h.match_probability)}, {"photos", photos}});
  }
  const StageTimings& t = r.timings;
  const std::string reason = no_match_reason(r, rules);
  return Json{{"query", path}, {"no_match", r.no_match}, {"no_match_reason", reason.empty() ? Json() : Json(reason)},
              {"confidence", r.confidence >= 0 ? Json(decimal(r.confidence)) : Json()}, {"predicted", predicted},
              {"results", results},
              {"timings_ms", Json{{"decode", ms(t.decode_ms)}, {"localize", ms(t.localize_ms)}, {"embed", ms(t.embed_ms)}, {"categorize", ms(t.categorize_ms)},
                                  {"search", ms(t.search_ms)}, {"rerank", ms(t.rerank_ms)}, {"total", ms(t.total_ms)}}}};
}

// What `query` searches (one catalogue file, or several shard files / a shard set folder searched as
// one) and how it decodes an image (within the configured limits, by the Pipeline).
struct Searcher {
  std::function<Image(const std::string&)> decode;
  std::function<QueryResponse(const Image&, const QueryOptions&)> query;
};

Searcher searcher(const Args& a, const PipelineConfig& config) {
  const std::vector<std::string>& files = a.all_values.at("catalogue");
  if (files.size() == 1 && !std::filesystem::is_directory(files.front())) {
    auto one = std::make_shared<const Pipeline>(Pipeline::open(files.front(), config));
    return {[one](const std::string& path) { return one->decode_file(path); },
            [one](const Image& image, const QueryOptions& o) { return one->query(image, o); }};
  }
  if (files.size() > 1 && std::any_of(files.begin(), files.end(), [](const std::string& f) { return std::filesystem::is_directory(f); }))
    throw UsageError("give one shard set folder or several catalogue files, not both");
  auto set = std::make_shared<const ShardedCatalogue>(files.size() == 1 ? ShardedCatalogue::open_folder(files.front(), config)
                                                                        : ShardedCatalogue::open(files, config));
  return {[set](const std::string& path) { return set->shards().front().decode_file(path); },
          [set](const Image& image, const QueryOptions& o) { return set->query(image, o); }};
}

void print_objects_table(const std::string& path, const ObjectsResponse& r, const PipelineConfig& config) {
  std::printf("\n%s: %zu products (%zu not in the catalogue)\n", path.c_str(), r.objects.size(), r.unmatched);
  for (const ItemCount& c : r.items) std::printf("  %3zu x %s (%s)\n", c.count, c.label.c_str(), c.category.c_str());
  std::printf("  %-4s %-22s %-28s %10s %10s  %s\n", "#", "box (x,y,w,h)", "item", "distance", "confidence", "verdict");
  for (std::size_t i = 0; i < r.objects.size(); ++i) {
    const FoundObject& o = r.objects[i];
    const QueryResponse& a = o.answer;
    char box[48], confidence[16] = "-";
    std::snprintf(box, sizeof box, "%d,%d,%d,%d", o.box.x, o.box.y, o.box.width, o.box.height);
    if (a.confidence >= 0) std::snprintf(confidence, sizeof confidence, "%.3f", static_cast<double>(a.confidence));
    const std::string item = a.results.empty() ? "-" : a.results.front().label;
    const std::string verdict = a.no_match ? "NO MATCH: " + no_match_reason(a, config.product_rules()) : "match";
    std::printf("  %-4zu %-22s %-28.28s %10.4f %10s  %s\n", i + 1, box, item.c_str(), a.results.empty() ? 0.0 : static_cast<double>(a.results.front().distance),
                confidence, verdict.c_str());
  }
  const ObjectTimings& t = r.timings;
  std::printf("  %.1f ms (decode %.1f, find %.1f, crop %.1f, embed %.1f, search %.1f)\n", t.total_ms, t.decode_ms, t.find_ms, t.crop_ms,
              t.embed_ms, t.search_ms);
}

// One photo's products as JSON: each product's box and its answer as `query --json` writes one.
Json objects_json(const std::string& path, const ObjectsResponse& r, const PipelineConfig& config) {
  Json objects = Json::array(), items = Json::array();
  for (const FoundObject& o : r.objects)
    objects.push_back(Json{{"box", Json::array({o.box.x, o.box.y, o.box.width, o.box.height})}, {"answer", response_json(path, o.answer, config.product_rules())}});
  for (const ItemCount& c : r.items) items.push_back(Json{{"label", c.label}, {"category", c.category}, {"count", c.count}});
  const ObjectTimings& t = r.timings;
  return Json{{"query", path}, {"width", r.width}, {"height", r.height}, {"objects", objects}, {"items", items}, {"unmatched", r.unmatched},
              {"timings_ms", Json{{"decode", ms(t.decode_ms)}, {"find", ms(t.find_ms)}, {"crop", ms(t.crop_ms)}, {"embed", ms(t.embed_ms)},
                                  {"search", ms(t.search_ms)}, {"total", ms(t.total_ms)}}}};
}

ObjectQueryOptions object_options(const Args& a) {
  ObjectQueryOptions o;
  if (a.options.count("crop")) o.crop = object_crop_from_string(a.need("crop"));
  if (a.options.count("min-score")) o.min_score = probability_option(a, "min-score");
  return o;
}

int cmd_query_objects(const Args& a, const PipelineConfig& config, const QueryOptions& query) {
  const std::vector<std::string>& files = a.all_values.at("catalogue");
  if (files.size() != 1 || std::filesystem::is_directory(files.front())) throw UsageError("--objects searches one catalogue file");
  const Pipeline p = Pipeline::open(files.front(), config);
  ObjectQueryOptions o = object_options(a);
  o.query = query;
  int failures = 0;
  Json all = Json::array();
  std::vector<ObjectReportPhoto> report;
  for (const std::string& path : a.positional) {
    try {
      const auto start = std::chrono::steady_clock::now();
      Image image = p.decode_file(path);  // once: the query and the report share it
      const double decode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ObjectsResponse r = p.query_objects(image, o);
      r.timings.decode_ms = decode_ms;
      r.timings.total_ms += decode_ms;
      if (a.has("json")) all.push_back(objects_json(path, r, config));
      else print_objects_table(path, r, config);
      if (a.options.count("html")) report.push_back({path, std::move(image), std::move(r), {}, {}});
    } catch (const Error& e) {
      ++failures;
      std::fprintf(stderr, "%s (%s)\n", about(path, e.what()).c_str(), status_name(e.status()));
    }
  }
  if (a.has("json")) std::printf("%s\n", json_line(all).c_str());
  if (a.options.count("html")) {
    write_objects_report(a.need("html"), report, "Products found");
    std::fprintf(stderr, "wrote the visual report to %s\n", std::filesystem::absolute(a.need("html")).c_str());
  }
  return failures ? 1 : 0;
}

int cmd_query(const Args& a) {
  if (a.positional.empty()) throw UsageError("query needs at least one image");
  a.need("catalogue");
  const PipelineConfig config = config_of(a);
  QueryOptions o;
  if (a.options.count("k")) o.k = integer_option(a, "k");
  o.category = a.get("category");
  if (a.has("photos")) o.one_result_per_label = false;
  if ((a.options.count("crop") || a.options.count("min-score")) && !a.has("objects")) throw UsageError("--crop and --min-score go with --objects");
  if (a.has("objects")) return cmd_query_objects(a, config, o);
  const auto search = searcher(a, config);
  std::vector<ReportQuery> report;
  int failures = 0;
  bool first = true;  // of the JSON array's elements
  if (a.has("json")) std::printf("[");
  for (std::size_t i = 0; i < a.positional.size(); ++i) {
    const std::string& path = a.positional[i];
    try {
      // Decoded once: the query and the report share the image.
      const auto start = std::chrono::steady_clock::now();
      Image image = search.decode(path);
      const double decode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      QueryResponse r = search.query(image, o);
      r.timings.decode_ms = decode_ms;
      r.timings.total_ms += decode_ms;
      if (a.has("json")) std::printf("%s%s\n", first ? "" : ",", json_line(response_json(path, r, config.photo_rules())).c_str());
      else print_table(path, r, config.photo_rules());
      first = false;
      if (a.options.count("html")) report.push_back({path, std::move(image), std::move(r)});
    } catch (const Error& e) {
      ++failures;
      std::fprintf(stderr, "%s (%s)\n", about(path, e.what()).c_str(), status_name(e.status()));
    }
  }
  if (a.has("json")) std::printf("]\n");
  if (a.options.count("html")) {
    write_html_report(a.need("html"), report, config);
    std::fprintf(stderr, "wrote the visual report to %s\n", std::filesystem::absolute(a.need("html")).c_str());
  }
  return failures ? 1 : 0;
}

// What inspect --json writes.
Json inspect_json(const CatalogueInfo& info) {
  Json categories = Json::object();
  for (const auto& [name, count] : info.categories) categories[name] = count;
  Json embedding = Json::parse(info.embedding_settings_json, nullptr, false);
  if (embedding.is_discarded()) embedding = info.embedding_settings_json;
  return Json{{"items", info.items}, {"dimension", info.dimension}, {"has_category_head", info.has_category_head},
              {"has_embedding_adaptation", info.has_embedding_adaptation}, {"fine_tuned_first_stage", info.fine_tuned_first_stage},
              {"backbone_sha256", info.backbone_sha256}, {"segmenter_sha256", info.segmenter_sha256}, {"file_bytes", info.file_bytes},
              {"embedding", embedding}, {"categories", categories}};
}

int cmd_inspect(const Args& a) {
  const CatalogueInfo info = Pipeline::inspect(a.need("catalogue"));
  if (a.has("json")) {
    std::printf("%s\n", json_line(inspect_json(info)).c_str());
    return 0;
  }
  std::printf("%s: %zu items, %d-d embeddings, %zu categories, category head: %s, adapted embedding: %s, %.1f MiB\n", a.need("catalogue").c_str(),
              info.items, info.dimension, info.categories.size(), info.has_category_head ? "yes" : "no", info.has_embedding_adaptation ? "yes" : "no",
              info.file_bytes / 1048576.0);
  if (info.has_fine_tuned_backbone)
    std::printf("fine-tuned backbone: stages %d.. (%zu parameter tensors), item classifier over %zu items, temperature %.2f\n",
                info.fine_tuned_first_stage, info.fine_tuned_parameters.size(), info.fine_tuned_items.size(), static_cast<double>(info.fine_tuned_temperature));
  std::printf("backbone sha256 %s\nsegmenter sha256 %s\nembedding settings %s\n", info.backbone_sha256.c_str(),
              info.segmenter_sha256.empty() ? "(no localisation)" : info.segmenter_sha256.c_str(), info.embedding_settings_json.c_str());
  for (const auto& [name, count] : info.categories) std::printf("  %-24s %zu\n", name.c_str(), count);
  return 0;
}

int cmd_eval(const Args& a) {
  const PipelineConfig config = config_of(a);
  if (a.options.count("objects")) {
    const Pipeline p = Pipeline::open(a.need("catalogue"), config);
    return evaluate_objects(p, a.need("objects"), object_options(a), a.get("json-file"), a.options.count("plot") ? a.need("plot") + "_worst_objects.html" : "");
  }
  const std::string label = a.get("label-column", "label"), category = a.get("category-column", "category");
  EvaluationOptions options;
  if (a.options.count("head-csv")) options.head_training = read_catalogue_csv(a.need("head-csv"), label, category);
  if (a.options.count("holdout-items")) options.holdout_items = integer_option(a, "holdout-items");
  options.progress = [bar = ProgressFn(), stage = std::string()](const std::string& now, std::size_t done, std::size_t total) mutable {
    if (now != stage) stage = now, bar = progress_bar(now);
    return bar(done, total);
  };
  const std::vector<EvaluationVariant> variants = a.has("ablate") ? ablation_variants(config) : std::vector<EvaluationVariant>{configured_variant(config)};
  const EvaluationReport report = evaluate(config, read_catalogue_csv(a.need("catalogue-csv"), label, category),
                                           read_catalogue_csv(a.need("queries-csv"), label, category), variants, options);
  print_evaluation(stdout, report, config);
  if (a.options.count("json-file")) {
    std::ofstream f(a.need("json-file"));
    f << evaluation_json(report) << "\n";
    if (!f) throw Error(Status::Io, a.need("json-file") + ": cannot write");
    std::fprintf(stderr, "wrote %s\n", a.need("json-file").c_str());
  }
  if (a.options.count("plot"))
    for (const std::string& path : write_evaluation_plots(a.need("plot"), report)) std::fprintf(stderr, "wrote %s\n", path.c_str());
  return 0;
}

// The line after a usage error: where to read the usage of the command given (or the list of commands).
void print_usage_hint(int argc, char** argv) {
  if (argc >= 2 && cli::is_command(argv[1])) std::fprintf(stderr, "Run 'domainsearch %s --help' for its usage.\n", argv[1]);
  else std::fprintf(stderr, "Run 'domainsearch --help' for the commands.\n");
}

int cmd_completion(const Args& a) {
  if (a.positional.size() != 1 || a.positional.front() != "bash")
    throw UsageError("completion takes one shell: bash (zsh reads it after `autoload bashcompinit && bashcompinit`)");
  std::fputs(cli::bash_completion_script().c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_interrupt);
  domainsearch::process::tune_process_for_inference();
  static const std::map<std::string, int (*)(const Args&)> kCommands = {
      {"index", cmd_index}, {"add", cmd_add}, {"remove", cmd_remove}, {"train", cmd_train}, {"query", cmd_query}, {"inspect", cmd_inspect},
      {"eval", cmd_eval}, {"completion", cmd_completion}};
  try {
    const Args a = cli::parse_command_line(argc, argv);
    switch (a.request) {
      case cli::Request::Usage:  // with no arguments, the whole usage as a usage error
        std::fputs(cli::usage_text().c_str(), argc < 2 ? stderr : stdout);
        return argc < 2 ? kExitUsage : 0;
      case cli::Request::Version:
        std::printf("domainsearch %s\n", version_string());
        return 0;
      case cli::Request::CommandHelp:
        std::fputs(cli::command_help(a.command).c_str(), stdout);
        return 0;
      case cli::Request::Run:
        break;
    }
    if (a.command == "index" || a.command == "add" || a.command == "remove" || a.command == "train")
      for (const int signal : {SIGTERM, SIGHUP}) std::signal(signal, on_interrupt);  // stop cleanly: save, or leave the file as it was
    return kCommands.at(a.command)(a);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "domainsearch: %s\n", e.what());
    print_usage_hint(argc, argv);
    return kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "domainsearch: %s [%s]\n", e.what(), status_name(e.status()));
    return e.status() == Status::Cancelled ? kExitInterrupted : kExitError;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "domainsearch: out of memory\n");
    return kExitError;
  } catch (const std::exception& e) {  // e.g. std::filesystem::filesystem_error: not a usage error
    std::fprintf(stderr, "domainsearch: %s\n", e.what());
    return kExitError;
  }
}
