// The command line of `domainsearch` on CLI11: the table of commands, the parser built from it, the
// usage texts and the bash completion script.
#include "command_line.hpp"

#include <domainsearch/version.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <CLI/CLI.hpp>

namespace domainsearch::cli {
namespace {

// What a command accepts: its help text (the first line is its synopsis), its options (name, what the
// value is; "a|b" is a choice of a or b), its flags, the name of its positional arguments (empty: it takes
// none), options of which exactly one must be given, and options it takes more than once.
struct CommandSpec {
  std::string help;
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> flags;
  std::string positional;
  std::vector<std::string> one_of;
  std::vector<std::string> repeatable;
};

const std::map<std::string, CommandSpec> kCommandSpecs = {
    {"completion", {"domainsearch completion bash\n"
                    "  Prints a bash completion script for the command, its options and their values: source it, e.g.\n"
                    "  domainsearch completion bash > ~/.local/share/bash-completion/completions/domainsearch",
                    {}, {}, "SHELL"}},
    {"index", {"domainsearch index --config C.json --catalogue CAT (--csv FILE | --folder DIR) [--shards N] [--no-train]\n"
               "  Builds or extends CAT. CSV columns: path,label,category (paths relative to the CSV). A folder holds one\n"
               "  sub-folder per category. Only images not yet in CAT are processed; unreadable ones are reported and skipped\n"
               "  (exit status 3 once the others are saved). CSV files may start with a UTF-8 byte-order mark and use CRLF.\n"
               "  Trains afterwards (see train) unless --no-train: fine-tuning with any number of categories (it learns items), a\n"
               "  category head with 2 or more; what it cannot train it names, with why. Ctrl-C stops cleanly, keeping what was indexed.\n"
               "  --shards N (1..4096, with --csv) builds a new shard set instead: CAT is a folder that receives template.dscat,\n"
               "  N shard catalogues (each image goes to the shard of its key) and shards.json; fine-tuning runs once before\n"
               "  the shards embed, the category head once across them. Query it with query --catalogue CAT.",
               {{"config", "C.json"}, {"catalogue", "CAT"}, {"csv", "FILE"}, {"folder", "DIR"}, {"shards", "N"}}, {"no-train"}, "", {"csv", "folder"}}},
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
               "  product needs (0..1, default 0.05).",
               {{"config", "C.json"}, {"catalogue", "CAT"}, {"k", "N"}, {"category", "NAME"}, {"html", "FILE"}, {"crop", "cutout|box"}, {"min-score", "P"}},
               {"json", "photos", "objects"}, "IMAGE", {}, {"catalogue"}}},
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

// Options whose value is an integer, with its range: --k as the configuration's "k"; --key any 64-bit
// key but 2^64-1, which the C ABI returns as "no result" (DS_KEY_NONE).
const std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kIntegerOptions = {
    {"k", {1, 100000}}, {"key", {0, UINT64_MAX - 1}}, {"holdout-items", {0, 100000}}, {"shards", {1, 4096}}};
// Options whose value is a probability in (0, 1].
const std::set<std::string> kProbabilityOptions = {"min-score"};

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// `text` as an integer in [lo, hi], digits only (no sign, spaces or suffix: "-1" and "12abc" are
// refused, where std::stoull would wrap or stop early); false when it is not one.
bool parse_integer(const std::string& text, std::uint64_t lo, std::uint64_t hi, std::uint64_t& value) {
  value = 0;
  bool ok = !text.empty();
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9' && value <= (UINT64_MAX - static_cast<std::uint64_t>(c - '0')) / 10;
    if (!ok) break;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return ok && value >= lo && value <= hi;
}

bool parse_probability(const std::string& text, float& value) {
  char* end = nullptr;
  value = std::strtof(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size() && value > 0 && value <= 1;
}

// What is wrong with `text` as the value of --NAME (empty: nothing), for the options with a checked value.
std::string value_error(const std::string& name, const std::string& text) {
  if (const auto range = kIntegerOptions.find(name); range != kIntegerOptions.end()) {
    std::uint64_t value = 0;
    if (!parse_integer(text, range->second.first, range->second.second, value))
      return "must be an integer in " + std::to_string(range->second.first) + ".." + std::to_string(range->second.second) + ", got \"" + text + "\"";
  } else if (kProbabilityOptions.count(name)) {
    float value = 0;
    if (!parse_probability(text, value)) return "must be a number in (0, 1], got \"" + text + "\"";
  }
  return {};
}

// The choices of a value described as "a|b|c"; empty when the value is not a choice.
std::vector<std::string> choices_of(const std::string& value) {
  std::vector<std::string> choices;
  if (value.find('|') == std::string::npos) return choices;
  std::stringstream in(value);
  for (std::string choice; std::getline(in, choice, '|');) choices.push_back(choice);
  return choices;
}

// "--config C.json, --catalogue CAT, ..., --no-train, --help": what a command accepts, for messages.
std::string allowed_options(const CommandSpec& spec) {
  std::string out;
  for (const auto& [name, value] : spec.options) out += "--" + name + " " + value + ", ";
  for (const std::string& flag : spec.flags) out += "--" + flag + ", ";
  return out + "--help";
}

// Where CLI11 writes what it parses (std::map: the addresses it holds stay valid). Every value of every
// option is kept, so that an option given twice is named as such.
struct ParsedValues {
  std::map<std::string, std::vector<std::string>> given;
  std::map<std::string, bool> flags;
  std::vector<std::string> positional;
};

// The CLI11 subcommand of `spec`, writing into `values`. Unknown arguments are kept (allow_extras) so
// that the error can name what the command accepts.
void add_command(CLI::App& app, const std::string& name, const CommandSpec& spec, ParsedValues& values) {
  CLI::App* command = app.add_subcommand(name, spec.help.substr(0, spec.help.find('\n')));
  command->allow_extras();
  for (const auto& [option, value] : spec.options) {
    CLI::Option* o = command->add_option("--" + option, values.given[option])->allow_extra_args(false)->type_name(value);
    if (const std::vector<std::string> choices = choices_of(value); !choices.empty()) o->check(CLI::IsMember(choices));
    o->check(CLI::Validator([name = option](std::string& text) { return value_error(name, text); }, ""));
  }
  for (const std::string& flag : spec.flags) command->add_flag("--" + flag, values.flags[flag]);
  if (!spec.positional.empty()) command->add_option(spec.positional, values.positional);
}

// The arguments CLI11 did not take: an unknown option, or a positional argument the command takes none of.
void refuse_extras(const std::string& command, const CommandSpec& spec, const std::vector<std::string>& extras) {
  if (extras.empty()) return;
  const std::string& first = extras.front();
  if (first.size() > 1 && first[0] == '-')
    throw UsageError("unknown option " + first + " for " + command + "; it accepts " + allowed_options(spec));
  throw UsageError(command + " takes no positional arguments, got \"" + first + "\" (options start with --; it accepts " +
                   allowed_options(spec) + ")");
}

void require_one_of(const Args& a, const CommandSpec& spec) {
  if (spec.one_of.empty()) return;
  std::string choices;
  std::size_t given = 0;
  for (const std::string& name : spec.one_of) {
    given += a.options.count(name);
    for (const auto& [option, value] : spec.options)
      if (option == name) choices += std::string(choices.empty() ? "" : " or ") + "--" + name + " " + value;
  }
  if (given != 1) throw UsageError(a.command + (given == 0 ? " needs " : " takes only one of ") + choices);
}

Args collect(const std::string& command, const CommandSpec& spec, ParsedValues& values) {
  Args a;
  a.command = command;
  for (auto& [name, list] : values.given) {
    if (list.size() > 1 && !contains(spec.repeatable, name)) throw UsageError("--" + name + " is given twice");
    if (!list.empty()) a.options[name] = list.front(), a.all_values[name] = list;
  }
  for (const auto& [flag, on] : values.flags)
    if (on) a.flags.insert(flag);
  a.positional = std::move(values.positional);
  return a;
}

const CommandSpec& spec_of(const std::string& command) {
  const auto it = kCommandSpecs.find(command);
  if (it == kCommandSpecs.end()) throw UsageError("unknown command \"" + command + "\"");
  return it->second;
}

// Whether an option's value, as the command table names it, is a file: CAT, FILE, PATH, PREFIX or a
// name with an extension (C.json, Q.csv, ...); numbers and names (N, K, P, L, NAME, C) are not.
bool names_a_file(const std::string& value) {
  return value == "CAT" || value == "FILE" || value == "PATH" || value == "PREFIX" || value.find('.') != std::string::npos;
}

// The completion script's case arm of one command: its options, which of them take files or folders, and
// the choices of those that take one of a list.
std::string completion_arm(const std::string& name, const CommandSpec& spec) {
  std::string options, values, files, folders, choices;
  for (const auto& [option, value] : spec.options) {
    options += "--" + option + " ";
    values += "--" + option + " ";
    if (const std::vector<std::string> list = choices_of(value); !list.empty()) {
      choices += "      --" + option + ") COMPREPLY=($(compgen -W \"";
      for (const std::string& c : list) choices += c + " ";
      choices += "\" -- \"$cur\")); return ;;\n";
    } else if (value == "DIR") {
      folders += "--" + option + " ";
    } else if (names_a_file(value)) {
      files += "--" + option + " ";
    }
  }
  for (const std::string& flag : spec.flags) options += "--" + flag + " ";
  return "    " + name + ")\n      options=\"" + options + "--help\" files=\"" + files + "\" folders=\"" + folders + "\" values=\"" + values +
         "\" positional=\"" + spec.positional + "\"\n      case $prev in\n" + choices + "      esac ;;\n";
}

}  // namespace

const std::string& Args::need(const std::string& name) const {
  const auto it = options.find(name);
  if (it == options.end()) throw UsageError("missing --" + name);
  return it->second;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  const auto it = options.find(name);
  return it == options.end() ? fallback : it->second;
}

Args parse_command_line(int argc, char** argv) {
  Args a;
  const std::string first = argc >= 2 ? argv[1] : "";
  if (first.empty() || first == "--help" || first == "-h" || first == "help") {
    a.request = Request::Usage;
    return a;
  }
  if (first == "--version") {
    a.request = Request::Version;
    return a;
  }
  if (first[0] == '-') throw UsageError("the command comes first, got \"" + first + "\"");
  const CommandSpec& spec = spec_of(first);
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h") {  // the help, whatever else the line holds
      a.request = Request::CommandHelp;
      a.command = first;
      return a;
    }
    // CLI11 would take the next argument as the value of "--name=" (an empty value reads as none given).
    if (arg.size() > 3 && arg.compare(0, 2, "--") == 0 && arg.back() == '=')
      throw UsageError(arg + " has no value (write " + arg.substr(0, arg.size() - 1) + " VALUE)");
  }
  CLI::App app("domainsearch");
  app.require_subcommand(1, 1);
  ParsedValues values;
  add_command(app, first, spec, values);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  refuse_extras(first, spec, app.get_subcommands().front()->remaining());
  a = collect(first, spec, values);
  require_one_of(a, spec);
  return a;
}

std::string usage_text() {
  std::string out = std::string("domainsearch ") + version_string() + ": domain-specific image similarity search\n\nusage:\n";
  for (const auto& [name, spec] : kCommandSpecs) out += "  " + spec.help.substr(0, spec.help.find('\n')) + "\n";
  return out + "\n'domainsearch COMMAND --help' describes one command; 'domainsearch --version' prints the version.\n";
}

std::string command_help(const std::string& command) { return spec_of(command).help + "\n"; }

bool is_command(const std::string& name) { return kCommandSpecs.count(name) != 0; }

std::string bash_completion_script() {
  std::string commands, arms;
  for (const auto& [name, spec] : kCommandSpecs) {
    commands += name + " ";
    arms += completion_arm(name, spec);
  }
  return "# bash completion for domainsearch " + std::string(version_string()) + " (from `domainsearch completion bash`)\n"
         "_domainsearch() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} options files folders values positional\n"
         "  if [ \"$cur\" = = ]; then prev=${COMP_WORDS[COMP_CWORD-1]}; cur=; fi  # --opt=<Tab>: bash splits at '='\n"
         "  if [ \"$prev\" = = ]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi\n"
         "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W \"" + commands + "--help --version\" -- \"$cur\")); return; fi\n"
         "  case ${COMP_WORDS[1]} in\n" + arms + "    *) return ;;\n  esac\n"
         "  if [[ \" $folders \" == *\" $prev \"* ]]; then compopt -o filenames 2>/dev/null; local IFS=$'\\n'; COMPREPLY=($(compgen -d -- \"$cur\")); return; fi\n"
         "  if [[ \" $files \" == *\" $prev \"* ]]; then compopt -o filenames 2>/dev/null; local IFS=$'\\n'; COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n"
         "  if [[ \" $values \" == *\" $prev \"* ]]; then COMPREPLY=(); return; fi  # a number or a name: nothing to offer\n"
         "  if [[ $cur == -* || -z $positional ]]; then COMPREPLY=($(compgen -W \"$options\" -- \"$cur\")); return; fi\n"
         "  if [ \"$positional\" = SHELL ]; then COMPREPLY=($(compgen -W bash -- \"$cur\")); return; fi\n"
         "  compopt -o filenames 2>/dev/null; local IFS=$'\\n'; COMPREPLY=($(compgen -f -- \"$cur\"))  # one name a line: spaces kept\n"
         "}\n"
         "complete -F _domainsearch domainsearch\n";
}

std::uint64_t integer_option(const Args& a, const std::string& name) {
  const auto& [lo, hi] = kIntegerOptions.at(name);
  std::uint64_t value = 0;
  if (!parse_integer(a.need(name), lo, hi, value)) throw UsageError("--" + name + ": " + value_error(name, a.need(name)));
  return value;
}

float probability_option(const Args& a, const std::string& name) {
  float value = 0;
  if (!parse_probability(a.need(name), value)) throw UsageError("--" + name + ": " + value_error(name, a.need(name)));
  return value;
}

}  // namespace domainsearch::cli
