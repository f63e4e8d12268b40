// domainsearch: the command-line tool over libdomainsearch's Pipeline.
//   domainsearch index   --config C.json --catalogue CAT (--csv FILE | --folder DIR) [--no-train]
//   domainsearch index   --config C.json --catalogue FOLDER --csv FILE --shards N [--no-train]
//   domainsearch add     --config C.json --catalogue CAT --image PATH --category NAME [--label L] [--key K]
//   domainsearch remove  --config C.json --catalogue CAT --key K
//   domainsearch train   --config C.json --catalogue CAT
//   domainsearch query   --config C.json --catalogue CAT [--catalogue CAT2...] IMAGE... [--k N] [--category NAME] [--json] [--html FILE]
//   domainsearch inspect --catalogue CAT [--json]
//   domainsearch eval    --config C.json --catalogue-csv CAT.csv --queries-csv Q.csv [--ablate] [--json-file FILE] [--plot PREFIX] ...
//   domainsearch --version | --help | COMMAND --help
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

using namespace domainsearch;

namespace {

// Exit codes (see the top of this file).
constexpr int kExitError = 1, kExitUsage = 2, kExitSomeFailed = 3, kExitInterrupted = 130;

using Json = nlohmann::ordered_json;  // keys in the order written

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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

// What each command accepts: its help text, options (name -> what the value is), flags, whether it
// takes IMAGE arguments, options of which exactly one must be given, and options it takes more than
// once. Anything else is a usage error.
struct CommandSpec {
  std::string help;
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> flags;
  bool images = false;
  std::vector<std::string> one_of;
  std::vector<std::string> repeatable;
};

const std::map<std::string, CommandSpec> kCommandSpecs = {
    {"index", {"domainsearch index --config C.json --catalogue CAT (--csv FILE | --folder DIR) [--shards N] [--no-train]\n"
               "  Builds or extends CAT. CSV columns: path,label,category (paths relative to the CSV). A folder holds one\n"
               "  sub-folder per category. Only images not yet in CAT are processed; unreadable ones are reported and skipped\n"
               "  (exit status 3 once the others are saved). CSV files may start with a UTF-8 byte-order mark and use CRLF.\n"
               "  Trains afterwards (see train) unless --no-train: fine-tuning with any number of categories (it learns items), a\n"
               "  category head with 2 or more; what it cannot train it names, with why. Ctrl-C stops cleanly, keeping what was indexed.\n"
               "  --shards N (1..4096, with --csv) builds a new shard set instead: CAT is a folder that receives template.dscat,\n"
               "  N shard catalogues (each image goes to the shard of its key) and shards.json; fine-tuning runs once before\n"
               "  the shards embed, the category head once across them. Query it with query --catalogue CAT.",
               {{"config", "C.json"}, {"catalogue", "CAT"}, {"csv", "FILE"}, {"folder", "DIR"}, {"shards", "N"}}, {"no-train"}, false, {"csv", "folder"}}},
    {"add", {"domainsearch add --config C.json --catalogue CAT --image PATH --category NAME [--label L] [--key K] [--upsert]\n"
             "  Adds one image (key defaults to a hash of PATH; K is 0..18446744073709551614). --upsert replaces an existing key.",
             {{"config", "C.json"}, {"catalogue", "CAT"}, {"image", "PATH"}, {"category", "NAME"}, {"label", "L"}, {"key", "K"}}, {"upsert"}}},
    {"remove", {"domainsearch remove --config C.json --catalogue CAT --key K\n  Removes one item.",
                {{"config", "C.json"}, {"catalogue", "CAT"}, {"key", "K"}}, {}}},
    {"train", {"domainsearch train --config C.json --catalogue CAT [--csv PHOTOS.csv]\n"
               "  With \"fine_tuning\": {\"enabled\": true}, fine-tunes the backbone on the catalogue's photos (or on PHOTOS.csv)\n"
               "  and re-embeds the catalogue, showing stage, epoch, loss and ETA; Ctrl-C cancels and leaves CAT as it was.\n"
               "  Otherwise (re)trains the category head (and, with \"adapt_embedding\", the adapted embedding) on the\n"
               "  catalogue's embeddings, or on the photos of PHOTOS.csv (path,label,category; categories must be the\n"
               "  catalogue's), e.g. shop photos for a catalogue of one studio image per item.",
               {{"config", "C.json"}, {"catalogue", "CAT"}, {"csv", "PHOTOS.csv"}}, {}}},
    {"query", {"domainsearch query --config C.json --catalogue CAT [--catalogue CAT2...] IMAGE... [--k N] [--category NAME] [--photos] [--json] [--html FILE]\n"
               "                   [--objects [--crop cutout|box] [--min-score P]]\n"
               "  Finds the catalogue items most like each IMAGE (N: 1..100000 items each, each shown by its nearest photo with the\n"
               "  number of its photos found; --photos lists photos instead, as \"one_result_per_label\": false). Prints a table (or JSON with\n"
               "  --json, keys as strings); --html writes a self-contained visual report. NO MATCH says which rule of the\n"
               "  configuration fired (match_distance, match_threshold, min_confidence); with a \"confidence\" model each answer\n"
               "  says how likely its first item is right. Several --catalogue files, or a shard set folder\n"
               "  (index --shards), are searched as one catalogue: each image is embedded once and the shards' results merged.\n"
               "  --objects answers every product in each photo (a shelf, a tray; one catalogue file, and an \"object_finder\"\n"
               "  (tools/object_finder.sh) or a \"segmenter\" in the configuration): each product's box, item, confidence and NO MATCH verdict, and the photo's items with their\n"
               "  counts; --html draws the boxes with their items on each photo. --crop: how a product is shown to the backbone\n"
               "  (cutout on white, default; box with its background). --min-score: the object finder's centre probability a\n"
               "  product needs (0..1, default 0.1).",
               {{"config", "C.json"}, {"catalogue", "CAT"}, {"k", "N"}, {"category", "NAME"}, {"html", "FILE"}, {"crop", "cutout|box"}, {"min-score", "P"}},
               {"json", "photos", "objects"}, true, {}, {"catalogue"}}},
    {"inspect", {"domainsearch inspect --catalogue CAT [--json]\n  Says what a catalogue file holds, without loading models.",
                 {{"catalogue", "CAT"}}, {"json"}}},
    {"eval", {"domainsearch eval --config C.json --catalogue-csv CAT.csv --queries-csv Q.csv [--label-column L] [--category-column C]\n"
              "                  [--head-csv TRAIN.csv] [--holdout-items N] [--ablate] [--json-file FILE] [--plot PREFIX]\n"
              "  Measures retrieval (a result is relevant when its label equals the query's) and category prediction:\n"
              "  item recall@K and MRR (the item answer), photo mAP, R-precision, precision/recall/identical-recall@1,5,10,20\n"
              "  (the photo answer), category accuracy, macro P/R/F1, per-class accuracy, confusion matrix. Nothing is saved. --ablate measures the ablation set (category off/hard/soft,\n"
              "  grayscale, raw embeddings, localisation with and without reranking) in one run: model outputs are computed\n"
              "  once per image and embedding setting. Columns default to label and category. --head-csv trains the\n"
              "  category head on other photos (e.g. when the catalogue holds one iconic image per item). --json-file writes\n"
              "  every number; --plot writes PREFIX_precision.svg, PREFIX_confusion.svg and PREFIX_risk_coverage.svg.\n"
              "  --holdout-items N leaves N items out of the catalogue and the training photos and reports how often their\n"
              "  queries still get a match (false-match rate) and what each \"no match\" threshold costs the others: by\n"
              "  distance (match_distance), by match probability (match_threshold, fine-tuned configurations) and by a\n"
              "  confidence model fitted on the answers (printed for the configuration's \"confidence\"; min_confidence),\n"
              "  how well each candidate confidence tells right from wrong answers and known from held-out items, and\n"
              "  what the configured rules let through.\n"
              "domainsearch eval --config C.json --catalogue CAT --objects SCENES.json [--crop cutout|box] [--min-score P] [--json-file FILE]\n"
              "                  [--plot PREFIX]\n"
              "  Measures query --objects on the scenes of SCENES.json (tools/make_scenes.py; its labels must be CAT's): detection\n"
              "  recall/precision at IoU >= 0.5, identification of the found products, end-to-end F1, mAP@0.5 over items, per-photo\n"
              "  items-and-counts F1 and count error, where the time goes; --plot writes PREFIX_worst_objects.html (the worst photos).",
              {{"config", "C.json"}, {"catalogue-csv", "CAT.csv"}, {"queries-csv", "Q.csv"}, {"label-column", "L"}, {"category-column", "C"},
               {"head-csv", "TRAIN.csv"}, {"holdout-items", "N"}, {"json-file", "FILE"}, {"plot", "PREFIX"}, {"objects", "SCENES.json"},
               {"catalogue", "CAT"}, {"crop", "cutout|box"}, {"min-score", "P"}},
              {"ablate"}}},
};

struct Args {
  std::string command;
  std::map<std::string, std::string> options;                    // the first value of each option
  std::map<std::string, std::vector<std::string>> all_values;    // every value, in order, of each option
  std::set<std::string> flags;
  std::vector<std::string> positional;

  const std::string& need(const std::string& name) const {
    const auto it = options.find(name);
    if (it == options.end()) throw UsageError("missing --" + name);
    return it->second;
  }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    const auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
};

// Options whose value is an integer, with its range: --k as the configuration's "k"; --key any 64-bit
// key but 2^64-1, which the C ABI returns as "no result" (DS_KEY_NONE).
const std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kIntegerOptions = {
    {"k", {1, 100000}}, {"key", {0, UINT64_MAX - 1}}, {"holdout-items", {0, 100000}}, {"shards", {1, 4096}}};

// The value of --NAME (one of kIntegerOptions) as an integer in its range: digits only (no sign, spaces
// or suffix: "-1" and "12abc" are refused, where std::stoull would wrap or stop early).
std::uint64_t integer_option(const Args& a, const std::string& name) {
  const auto [lo, hi] = kIntegerOptions.at(name);
  const std::string& text = a.need(name);
  std::uint64_t value = 0;
  bool ok = !text.empty();
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9' && value <= (UINT64_MAX - static_cast<std::uint64_t>(c - '0')) / 10;
    if (!ok) break;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!ok || value < lo || value > hi)
    throw UsageError("--" + name + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got \"" + text + "\"");
  return value;
}

// The value of --NAME as a probability: a decimal number in (0, 1].
float probability_option(const Args& a, const std::string& name) {
  const std::string& text = a.need(name);
  char* end = nullptr;
  const float value = std::strtof(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(value > 0 && value <= 1))
    throw UsageError("--" + name + " must be a number in (0, 1], got \"" + text + "\"");
  return value;
}

// "--config C.json, --catalogue CAT, ..., --no-train, --help": what a command accepts, for messages.
std::string allowed_options(const CommandSpec& spec) {
  std::string out;
  for (const auto& [name, value] : spec.options) out += "--" + name + " " + value + ", ";
  for (const std::string& flag : spec.flags) out += "--" + flag + ", ";
  return out + "--help";
}

// Parses `domainsearch COMMAND ...` against the command's spec: an option or flag it does not list, an
// option given twice or without its value, an IMAGE argument to a command that takes none, or not
// exactly one of its one_of options is a UsageError naming it (with --help, only the command is checked).
Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) throw UsageError("no command");
  a.command = argv[1];
  if (a.command == "--help" || a.command == "help" || a.command == "--version") return a;
  const auto spec_it = kCommandSpecs.find(a.command);
  if (spec_it == kCommandSpecs.end()) throw UsageError("unknown command \"" + a.command + "\"");
  const CommandSpec& spec = spec_it->second;
  for (int i = 2; i < argc; ++i) {
    const std::string s = argv[i];
    const std::string name = s.rfind("--", 0) == 0 ? s.substr(2) : std::string();
    if (name.empty() && (s.size() < 2 || s[0] != '-')) {
      a.positional.push_back(s);
    } else if (name == "help" || std::find(spec.flags.begin(), spec.flags.end(), name) != spec.flags.end()) {
      a.flags.insert(name);
    } else if (std::any_of(spec.options.begin(), spec.options.end(), [&](const auto& o) { return o.first == name; })) {
      if (i + 1 >= argc) throw UsageError(s + " needs a value");
      const bool repeatable = std::find(spec.repeatable.begin(), spec.repeatable.end(), name) != spec.repeatable.end();
      if (!a.options.emplace(name, argv[i + 1]).second && !repeatable) throw UsageError(s + " is given twice");
      a.all_values[name].push_back(argv[++i]);
    } else {
      throw UsageError("unknown option " + s + " for " + a.command + "; it accepts " + allowed_options(spec));
    }
  }
  if (a.has("help")) return a;
  for (const auto& entry : kIntegerOptions)
    if (a.options.count(entry.first)) integer_option(a, entry.first);  // refused before any work starts
  if (!spec.images && !a.positional.empty())
    throw UsageError(a.command + " takes no IMAGE arguments, got \"" + a.positional.front() + "\" (options start with --; it accepts " +
                     allowed_options(spec) + ")");
  if (!spec.one_of.empty()) {
    std::string choices;
    std::size_t given = 0;
    for (const std::string& name : spec.one_of) {
      given += a.options.count(name);
      for (const auto& [option, value] : spec.options)
        if (option == name) choices += std::string(choices.empty() ? "" : " or ") + "--" + name + " " + value;
    }
    if (given != 1) throw UsageError(a.command + (given == 0 ? " needs " : " takes only one of ") + choices);
  }
  return a;
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

void print_table(const std::string& path, const QueryResponse& r, const PipelineConfig& config) {
  std::printf("\n%s\n", path.c_str());
  if (!r.predicted.empty()) std::printf("  predicted: %s (%.2f)\n", r.predicted[0].category.c_str(), r.predicted[0].probability);
  if (r.localization) std::printf("  localisation confidence %.2f%s\n", r.localization->confidence, r.localization->fallback ? " (fallback)" : "");
  if (r.confidence >= 0) std::printf("  confidence %.3f (that the first item is right)\n", static_cast<double>(r.confidence));
  if (r.no_match) std::printf("  NO MATCH: %s\n", no_match_reason(r, config).c_str());
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

// One query's answer as JSON; keys as strings (exact above 2^53), "no_match_reason" null when it matched.
Json response_json(const std::string& path, const QueryResponse& r, const PipelineConfig& config) {
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
  const std::string reason = no_match_reason(r, config);
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
    const std::string verdict = a.no_match ? "NO MATCH: " + no_match_reason(a, config) : "match";
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
    objects.push_back(Json{{"box", Json::array({o.box.x, o.box.y, o.box.width, o.box.height})}, {"answer", response_json(path, o.answer, config)}});
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
      if (a.has("json")) std::printf("%s%s\n", first ? "" : ",", json_line(response_json(path, r, config)).c_str());
      else print_table(path, r, config);
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

void print_usage(FILE* to) {
  std::fprintf(to, "domainsearch %s: domain-specific image similarity search\n\nusage:\n", version_string());
  for (const auto& [name, spec] : kCommandSpecs) std::fprintf(to, "  %s\n", spec.help.substr(0, spec.help.find('\n')).c_str());
  std::fprintf(to, "\n'domainsearch COMMAND --help' describes one command; 'domainsearch --version' prints the version.\n");
}

// The line after a usage error: where to read the usage of the command given (or the list of commands).
void print_usage_hint(int argc, char** argv) {
  if (argc >= 2 && kCommandSpecs.count(argv[1])) std::fprintf(stderr, "Run 'domainsearch %s --help' for its usage.\n", argv[1]);
  else std::fprintf(stderr, "Run 'domainsearch --help' for the commands.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_interrupt);
  domainsearch::process::tune_process_for_inference();
  static const std::map<std::string, int (*)(const Args&)> kCommands = {
      {"index", cmd_index}, {"add", cmd_add}, {"remove", cmd_remove}, {"train", cmd_train}, {"query", cmd_query}, {"inspect", cmd_inspect},
      {"eval", cmd_eval}};
  if (argc < 2) {  // the whole usage, as a usage error
    print_usage(stderr);
    return kExitUsage;
  }
  try {
    const Args a = parse(argc, argv);
    if (a.command == "--help" || a.command == "help") {
      print_usage(stdout);
      return 0;
    }
    if (a.command == "--version") {
      std::printf("domainsearch %s\n", version_string());
      return 0;
    }
    const auto it = kCommands.find(a.command);
    if (it == kCommands.end()) throw UsageError("unknown command \"" + a.command + "\"");
    if (a.has("help")) {
      std::printf("%s\n", kCommandSpecs.at(a.command).help.c_str());
      return 0;
    }
    if (a.command == "index" || a.command == "add" || a.command == "remove" || a.command == "train")
      for (const int signal : {SIGTERM, SIGHUP}) std::signal(signal, on_interrupt);  // stop cleanly: save, or leave the file as it was
    return it->second(a);
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
