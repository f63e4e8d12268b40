#pragma once
// Internal: a small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF or LF line endings, a
// leading UTF-8 byte-order mark skipped) for catalogue manifests.
#include <string>
#include <vector>

namespace domainsearch::detail {

struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  ///< every row has header.size() fields
  /// Index of a named column; throws InvalidArgument naming the file and the columns it has.
  std::size_t column(const std::string& name) const;
};

/// Reads a CSV file whose first line is a header (a UTF-8 BOM before it, as spreadsheets save, is skipped). Throws Io, or InvalidArgument for a ragged row.
CsvTable read_csv(const std::string& path);

}  // namespace domainsearch::detail
