#pragma once
// Internal: an Index as sections of a container file (docs/format.md), so that the index file and,
// later, the catalogue file share one reader and writer.
#include "domainsearch/index.hpp"
#include "io/section_file.hpp"

namespace domainsearch::detail {

struct IndexIo {
  static const FileKind kFileKind;  ///< "DSINDEX", format v1.0
  /// Appends the META/KEYS/CATS/VECS/LABL[/MASK] sections; the caller holds no lock on `index`.
  static void write(const Index& index, SectionWriter& writer);
  /// Rebuilds an Index from those sections, validating every length and cross-reference.
  static Index read(const SectionReader& reader);
};

}  // namespace domainsearch::detail
