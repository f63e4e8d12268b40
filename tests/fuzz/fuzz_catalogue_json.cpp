// libFuzzer target: the JSON a catalogue holds (its CONF and SRCS sections; an index's META section) and
// a configuration file, through the library's one JSON reader (src/io/json_text.cpp: depth at most 64,
// no duplicate key), then as the readers take what it accepts: the configuration reader
// (config_from_json), the catalogue's embedding settings (apply_embedding_settings), and the lookups
// Catalogue::open / inspect make (these callers turn a JSON type error into Corrupt). Must throw
// domainsearch::Error (or a JSON type error where the callers catch it) or pass: never crash, never
// recurse without bound. Internal symbols are hidden in the library, so their sources are compiled in
// (tests/fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <string>

#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"
#include "io/json_text.hpp"
#include "config/config_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using domainsearch::Error;
  using nlohmann::json;
  namespace detail = domainsearch::detail;
  const char* text = reinterpret_cast<const char*>(data);
  json j;
  try {
    j = detail::parse_json(text, text + size, "fuzz.json", domainsearch::Status::Corrupt);
  } catch (const Error&) {
    return 0;
  }
  // A configuration file (PipelineConfig::load).
  try {
    detail::config_from_json(j, "/configs");
  } catch (const Error&) {
  } catch (const json::exception&) {
  }
  // CONF as read_catalogue_file reads it: its embedding settings onto a configuration.
  try {
    domainsearch::PipelineConfig config;
    detail::apply_embedding_settings(j.is_object() && j.contains("embedding") ? j["embedding"] : j, config);
  } catch (const Error&) {
  } catch (const json::exception&) {
  }
  // and its other keys, with a copy and a dump of "embedding" (both recursive: bounded by the depth).
  try {
    const std::string backbone = j.value("backbone_sha256", "");
    const std::string embedding = j.value("embedding", json::object()).dump();
    (void)backbone;
    (void)embedding;
  } catch (const json::exception&) {
  }
  // SRCS as read_catalogue_file reads it: [key, path] pairs.
  try {
    for (const json& pair : j) {
      const std::uint64_t key = detail::json_integer<std::uint64_t>(pair.at(0), "SRCS key", domainsearch::Status::Corrupt);
      const std::string source = pair.at(1).get<std::string>();
      (void)key;
      (void)source;
    }
  } catch (const Error&) {
  } catch (const json::exception&) {
  }
  // A copy and a dump of the whole document, as the readers' messages make.
  const json copy = j;
  const std::string all = copy.dump();
  (void)all;
  return 0;
}
