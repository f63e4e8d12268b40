#include "io/csv.hpp"

#include "domainsearch/error.hpp"
#include "io/regular_file.hpp"

namespace domainsearch::detail {

std::size_t CsvTable::column(const std::string& name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  std::string have;
  for (const std::string& h : header) have += (have.empty() ? "" : ", ") + h;
  throw Error(Status::InvalidArgument, path + ": no \"" + name + "\" column (columns: " + have + ")");
}

CsvTable read_csv(const std::string& path) {
  // A regular file only (a FIFO or /dev/zero is refused at once: Io), of at most kMaxTextFileBytes.
  const std::string text = read_text_file(path, kMaxTextFileBytes, "CSV file");
  CsvTable table;
  table.path = path;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  std::size_t line = 1;
  // A spreadsheet's "CSV UTF-8" starts with a byte-order mark, which is not part of the first column's name.
  const std::size_t start = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  const auto end_row = [&] {
    row.push_back(field);
    field.clear();
    if (table.header.empty()) {
      table.header = row;
    } else if (!(row.size() == 1 && row[0].empty())) {
      if (row.size() != table.header.size())
        throw Error(Status::InvalidArgument, path + ":" + std::to_string(line) + ": " + std::to_string(row.size()) + " fields, the header has " +
                                                 std::to_string(table.header.size()));
      table.rows.push_back(row);
    }
    row.clear();
    any = false;
  };
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field), field.clear();
    } else if (c == '\n') {
      end_row();
      ++line;
    } else if (c != '\r') {
      field += c;
    }
    any = true;
  }
  if (any || !field.empty()) end_row();
  if (table.header.empty()) throw Error(Status::InvalidArgument, path + ": empty CSV file (no header)");
  return table;
}

}  // namespace domainsearch::detail
