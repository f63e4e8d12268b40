#pragma once
// Internal: the one key no item may have. Search results are padded with it where there is no result
// (the C ABI's DS_KEY_NONE, 2**64-1 in Python), so an item with it could not be told from padding.
// Every add and upsert refuses it (Index, and the Pipeline's before it embeds anything); reading a file
// does not check it, so files written before the rule stay readable.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {

constexpr std::uint64_t kNoResultKey = std::numeric_limits<std::uint64_t>::max();

/// 64-bit FNV-1a of the path's bytes: an entry's key when it names none (Pipeline::key_for_path).
constexpr std::uint64_t key_for_path(std::string_view path) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : path) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

/// Throws InvalidArgument naming the key when it is kNoResultKey.
inline void check_item_key(std::uint64_t key) {
  if (key == kNoResultKey)
    throw Error(Status::InvalidArgument, "key " + std::to_string(key) + " (2^64-1) is reserved: search results are padded with it "
                                         "for \"no result\" (DS_KEY_NONE); give the item another key");
}

}  // namespace domainsearch::detail
