#pragma once
// Internal: CRC-32C (Castagnoli), the checksum of every section of a libdomainsearch file.
#include <cstddef>
#include <cstdint>

namespace domainsearch::detail {

/// Continues a CRC-32C over `size` bytes; start with crc = 0.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept;

}  // namespace domainsearch::detail
