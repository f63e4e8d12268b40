#pragma once
// Internal: the one JSON reader of the library. Every JSON text it reads (configurations, model
// manifests, shards.json, the catalogue's CONF and SRCS sections, the index's META section, the
// fine-tuned model's description) goes through parse_json, which first checks the text with
// nlohmann's iterative SAX parser and refuses
// - nesting deeper than kMaxJsonDepth arrays/objects (a document nested 200,000 levels deep would
//   otherwise parse, then overflow the stack when copied: nlohmann copies recursively), and
// - a key twice in one object (nlohmann keeps the last silently: {"k": 1, "k": 1000} would read k = 1000),
// and only then builds the document. Thread-safe.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "domainsearch/error.hpp"
#include "io/utf8.hpp"

namespace domainsearch::detail {

/// Arrays and objects nested more deeply are refused. The library's own JSON nests at most 4 levels.
constexpr std::size_t kMaxJsonDepth = 64;

/// Parses the JSON text [begin, end). Throws Error(`status`) naming `where` (a file name, "manifest",
/// "catalogue.dscat: CONF section") and what is wrong: not valid JSON (nlohmann's message, with any
/// bytes that are not UTF-8 shown as \xNN), nested deeper than kMaxJsonDepth (naming the path where
/// it happens), or a duplicate key (naming the key and the object holding it). Pass Corrupt for the
/// sections of the library's own files, InvalidArgument for what a user wrote (configuration, manifest).
nlohmann::json parse_json(const char* begin, const char* end, const std::string& where, Status status);

inline nlohmann::json parse_json(std::string_view text, const std::string& where, Status status) {
  return parse_json(text.data(), text.data() + text.size(), where, status);
}

/// `value` as an integer of type T: it must be a JSON integer (not a fraction, not 1e30: converting an
/// out-of-range floating-point number to an integer is undefined behaviour) within T's range.
/// Throws Error(`status`) naming `what` otherwise.
template <typename T>
T json_integer(const nlohmann::json& value, const std::string& what, Status status) {
  static_assert(std::is_integral_v<T>, "json_integer reads integers");
  bool fits = false;
  if (value.is_number_unsigned()) fits = value.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  else if (value.is_number_integer())
    fits = std::is_signed_v<T> ? value.get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                                     value.get<std::int64_t>() <= static_cast<std::int64_t>(std::numeric_limits<T>::max())
                               : value.get<std::int64_t>() >= 0;
  if (!fits) throw Error(status, what + " must be an integer that fits its type, got " + value.dump());
  return value.get<T>();
}

}  // namespace domainsearch::detail
