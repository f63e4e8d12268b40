// Names that are not UTF-8 (a Latin-1 "caf\xe9.jpg" file, label or category) cost their own row where
// they enter, never the whole run at its save: the catalogue file keeps them in JSON, UTF-8 only.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "domainsearch/error.hpp"
#include "domainsearch/index.hpp"
#include "domainsearch/pipeline.hpp"
#include "io/utf8.hpp"
#include "test_catalogue.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using Catch::Matchers::Contains;
using dstest::status_of;
namespace fs = std::filesystem;

namespace {

const std::string kLatin1 = "caf\xe9";  // "café" in Latin-1: not UTF-8

// The message of the InvalidArgument that `f` throws.
std::string invalid_argument(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    return e.what();
  }
  FAIL("not refused");
  return {};
}

}  // namespace

TEST_CASE("Index refuses a label or category name that is not UTF-8, naming its bad bytes as hex escapes", "[index][utf8]") {
  Index index(4);
  const std::int32_t c = index.add_category("round");
  const std::vector<float> v{1, 2, 3, 4};
  CHECK_THAT(invalid_argument([&] { index.add(7, c, v.data(), kLatin1); }), Contains("label of key 7") && Contains("caf\\xE9"));
  CHECK_THAT(invalid_argument([&] { index.upsert(7, c, v.data(), kLatin1); }), Contains("caf\\xE9"));
  const std::vector<std::uint64_t> keys{1, 2};
  const std::vector<std::int32_t> categories{c, c};
  const std::vector<float> two{1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<std::string> labels{"fine", kLatin1};
  CHECK_THAT(invalid_argument([&] { index.add_batch(ItemBatch{2, keys.data(), categories.data(), two.data(), labels.data(), nullptr}); }),
             Contains("label of key 2"));
  CHECK(index.size() == 0);  // all or none
  CHECK_THAT(invalid_argument([&] { index.add_category(kLatin1); }), Contains("category name \"caf\\xE9\""));
  CHECK(index.category_count() == 1);
  // Well-formed UTF-8 of any script is welcome.
  index.add(8, c, v.data(), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(index.add_category("\xc3\xa9picerie") == 1);
  CHECK(index.size() == 1);
}

TEST_CASE("a file name, label or category that is not UTF-8 fails its own row - the rest is indexed and saved", "[pipeline][utf8]") {
  dstest::Catalogue cat;
  const std::string d = cat.dir.path().string();
  const std::string bad_name = d + "/" + kLatin1 + ".png", bad_label = d + "/label.png", bad_category = d + "/category.png";
  for (const std::string& copy : {bad_name, bad_label, bad_category}) fs::copy_file(cat.entries[0].path, copy);
  std::vector<CatalogueEntry> entries = cat.entries;
  entries.insert(entries.begin() + 3, {bad_name, "cafe", "round", std::nullopt});
  entries.push_back({bad_label, kLatin1, "round", std::nullopt});
  entries.push_back({bad_category, "cafe-2", kLatin1, std::nullopt});

  SECTION("an entry list") {
    Pipeline p(cat.config);
    const IndexingReport r = p.index_entries(entries);
    CHECK(r.added == 12);
    REQUIRE(r.failures.size() == 3);
    CHECK(r.failures[0].path == d + "/caf\\xE9.png");  // printable and savable as it is
    CHECK_THAT(r.failures[0].reason, Contains(d + "/caf\\xE9.png") && Contains("file name") && Contains("not valid UTF-8"));
    CHECK(r.failures[1].path == bad_label);
    CHECK_THAT(r.failures[1].reason, Contains("label.png") && Contains("label \"caf\\xE9\""));
    CHECK(r.failures[2].path == bad_category);
    CHECK_THAT(r.failures[2].reason, Contains("category.png") && Contains("category \"caf\\xE9\""));
    for (const IndexingFailure& f : r.failures) CHECK((detail::is_valid_utf8(f.path) && detail::is_valid_utf8(f.reason)));
    CHECK(p.index().size() == 12);
    CHECK(p.index().category_count() == 2);  // no category made for the refused row

    const std::string file = cat.dir.file("items.dscat");
    REQUIRE_NOTHROW(p.save(file));  // failed with a raw [json.exception.type_error.316] before
    CHECK(Pipeline::inspect(file).items == 12);

    // analyze_entries fails the same rows the same way, without running the models on them.
    const std::vector<EntryAnalysis> analysed = p.analyze_entries(entries);
    REQUIRE(analysed.size() == entries.size());
    CHECK_FALSE(analysed[3].analysis);
    CHECK(analysed[3].error == r.failures[0].reason);
    CHECK_FALSE(analysed.back().analysis);
    CHECK(analysed.back().error == r.failures[2].reason);
    CHECK(analysed[0].analysis);
  }

  SECTION("a folder: a Latin-1 file name and a Latin-1 category folder") {
    const std::string tree = cat.dir.file("tree");
    for (const CatalogueEntry& e : cat.entries) {
      fs::create_directories(tree + "/" + e.category);
      fs::copy_file(e.path, tree + "/" + e.category + "/" + fs::path(e.path).filename().string());
    }
    fs::copy_file(cat.entries[0].path, tree + "/round/" + kLatin1 + ".png");
    fs::create_directories(tree + "/" + kLatin1);
    fs::copy_file(cat.entries[1].path, tree + "/" + kLatin1 + "/square.png");
    Pipeline p(cat.config);
    const IndexingReport r = p.index_folder(tree);
    CHECK(r.added == 12);
    REQUIRE(r.failures.size() == 2);
    for (const IndexingFailure& f : r.failures) {
      CHECK_THAT(f.reason, Contains("caf\\xE9") && Contains("not valid UTF-8"));
      CHECK(detail::is_valid_utf8(f.path));
    }
    const std::string file = cat.dir.file("tree.dscat");
    REQUIRE_NOTHROW(p.save(file));
    CHECK(Pipeline::inspect(file).items == 12);
  }

  SECTION("a CSV with a Latin-1 category") {
    const std::string csv = cat.dir.file("items.csv");
    {
      std::ofstream f(csv, std::ios::binary);
      f << "path,label,category\n";
      for (const CatalogueEntry& e : cat.entries) f << fs::path(e.path).filename().string() << "," << e.label << "," << e.category << "\n";
      f << "category.png,cafe-2," << kLatin1 << "\n";
    }
    Pipeline p(cat.config);
    const IndexingReport r = p.index_csv(csv);
    CHECK(r.added == 12);
    REQUIRE(r.failures.size() == 1);
    CHECK_THAT(r.failures[0].reason, Contains("category.png") && Contains("category \"caf\\xE9\""));
    REQUIRE_NOTHROW(p.save(cat.dir.file("csv.dscat")));
  }

  SECTION("add / upsert / add_analyzed refuse the name before any model runs, and change nothing") {
    Pipeline p(cat.config);
    const Image image = p.decode_file(cat.entries[0].path);
    CHECK_THAT(invalid_argument([&] { p.add(1, image, "round", "ok", bad_name); }), Contains("source path") && Contains("caf\\xE9.png"));
    CHECK_THAT(invalid_argument([&] { p.upsert(1, image, "round", kLatin1, "ok.png"); }), Contains("label \"caf\\xE9\""));
    CHECK_THAT(invalid_argument([&] { p.add(1, image, kLatin1, "ok", "ok.png"); }), Contains("category \"caf\\xE9\""));
    const ImageAnalysis analysis = p.analyze({image}).front();
    CHECK(status_of([&] { p.add_analyzed(1, analysis, "round", "ok", bad_name); }) == Status::InvalidArgument);
    CHECK(status_of([&] { p.add_categories({"fine", kLatin1}); }) == Status::InvalidArgument);
    CHECK(p.index().size() == 0);
    CHECK(p.index().category_count() == 0);
    p.add(1, image, "round", "caf\xc3\xa9", d + "/caf\xc3\xa9.png");  // UTF-8 is fine
    REQUIRE_NOTHROW(p.save(cat.dir.file("added.dscat")));
  }
}
