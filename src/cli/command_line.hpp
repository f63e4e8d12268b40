// The `domainsearch` command line: what each command accepts, parsed with CLI11, its usage texts and its
// bash completion. A command's handler reads the parsed Args; anything the command does not accept is a
// UsageError (exit 2) before any work starts.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace domainsearch::cli {

// A command line the command does not accept; the message says what is wrong in one line.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What the command line asks for: a command to run, or a text to print.
enum class Request { Run, Usage, CommandHelp, Version };

// A parsed command line: `command` and what was given to it.
struct Args {
  Request request = Request::Run;
  std::string command;                                           // empty for Usage and Version
  std::map<std::string, std::string> options;                    // the first value of each option given
  std::map<std::string, std::vector<std::string>> all_values;    // every value, in order, of each option given
  std::set<std::string> flags;
  std::vector<std::string> positional;                           // IMAGE (query) or SHELL (completion)

  // The value of --NAME; UsageError "missing --NAME" when it was not given.
  const std::string& need(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
};

// Parses `domainsearch COMMAND ...`. UsageError for an unknown command or option, an option given twice
// (but --catalogue of query) or without its value, a value out of its range (integers, --min-score,
// --crop), a positional argument to a command that takes none, or not exactly one of --csv/--folder
// (index); `COMMAND --help`, `--help`/`help` and `--version` are requests, checked for nothing else.
Args parse_command_line(int argc, char** argv);

// The whole usage (one line per command), the usage of one command, and whether `name` is a command.
std::string usage_text();
std::string command_help(const std::string& command);
bool is_command(const std::string& name);

// A bash completion script: commands, each command's options, the values of --crop, and file names for
// the other values and for IMAGE.
std::string bash_completion_script();

// The value of --NAME as an integer in its range (--k 1..100000, --key 0..2^64-2: 2^64-1 is the C ABI's
// "no result", --holdout-items 0..100000, --shards 1..4096); checked by the parser already.
std::uint64_t integer_option(const Args& a, const std::string& name);
// The value of --NAME as a probability in (0, 1]; checked by the parser already.
float probability_option(const Args& a, const std::string& name);

}  // namespace domainsearch::cli
