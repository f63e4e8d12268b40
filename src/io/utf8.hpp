#pragma once
// Internal: strict UTF-8 checks for the text that enters the library's files. A catalogue and an index
// keep their names, labels, categories and source paths in JSON, which holds only UTF-8; so a name that
// is not (a Latin-1 "caf\xe9.jpg") is refused where it enters, naming it with its bad bytes shown as
// \xNN, instead of failing the save at the end of a long run. Thread-safe; no allocation but the messages.
#include <cstddef>
#include <string>
#include <string_view>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {

/// The length (1 to 4) of the well-formed UTF-8 sequence that starts at s[i] (i < s.size()), or 0 when
/// none does (Unicode 15, table 3-7): no overlong form (C0 80, E0 80 80...), no surrogate (ED A0 80:
/// U+D800..U+DFFF), nothing above U+10FFFF (F4 90.., F5..FF), no stray continuation byte, no sequence
/// cut short by the end of s. U+0000 is a character like any other.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = at(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3, lo = 0xA0;  // below: overlong
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    length = 3;
  } else if (lead == 0xED) {
    length = 3, hi = 0x9F;  // above: surrogates
  } else if (lead == 0xF0) {
    length = 4, lo = 0x90;  // below: overlong
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4, hi = 0x8F;  // above: beyond U+10FFFF
  } else {
    return 0;  // 80..C1 (a continuation byte, or an overlong 2-byte lead), F5..FF
  }
  if (s.size() - i < length) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  return length;
}

/// Whether `s` is well-formed UTF-8 throughout (see utf8_sequence_length). The empty string is.
inline bool is_valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

/// `s` for a message: its well-formed UTF-8 kept, each byte outside it written as \xNN (upper-case
/// hex), so the message itself is UTF-8 ("caf\xE9.jpg"). At most about `max_bytes` bytes of `s`, then "...".
inline std::string escape_non_utf8(std::string_view s, std::size_t max_bytes = 512) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (i >= max_bytes) {
      out += "...";
      break;
    }
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      const auto byte = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
      i += 1;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

/// Throws InvalidArgument unless `text` is UTF-8: `<what> "caf\xE9" is not valid UTF-8 (...)`.
/// `what` names it ("label", "category", "source path", "label of key 7").
inline void require_utf8(std::string_view text, const std::string& what) {
  if (is_valid_utf8(text)) return;
  throw Error(Status::InvalidArgument, what + " \"" + escape_non_utf8(text) +
                                           "\" is not valid UTF-8 (bytes that are not are shown as \\xNN); names, labels, categories and "
                                           "paths stored in a catalogue must be UTF-8");
}

}  // namespace domainsearch::detail
