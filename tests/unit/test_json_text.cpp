// The one JSON reader (src/io/json_text.cpp): bounded depth, no duplicate key, through the readers that
// use it (configurations, manifests, catalogue sections); text files the user names must be regular
// files (a FIFO or /dev/zero is refused at once); the strict UTF-8 check (src/io/utf8.hpp).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "domainsearch/error.hpp"
#include "domainsearch/model.hpp"
#include "domainsearch/pipeline.hpp"
#include "io/json_text.hpp"
#include "io/section_file.hpp"
#include "io/utf8.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using Catch::Matchers::Contains;

namespace {

constexpr std::size_t kDeep = 200000;

// [[[...]]] nested `depth` levels deep.
std::string deep_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// {"a": {"a": ... 1 ...}} nested `depth` levels deep.
std::string deep_objects(std::size_t depth) {
  std::string text;
  text.reserve(depth * 7 + 1);
  for (std::size_t i = 0; i < depth; ++i) text += "{\"a\": ";
  text += "1";
  text.append(depth, '}');
  return text;
}

// The message of the Error that `f` throws; fails the test when it throws none or another status.
std::string refusal(const std::function<void()>& f, Status status) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(status_name(e.status()) == std::string(status_name(status)));
    return e.what();
  }
  FAIL("not refused");
  return {};
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary | std::ios::trunc) << text; }

}  // namespace

TEST_CASE("parse_json refuses nesting deeper than 64 levels without recursing, naming where", "[json][hostile]") {
  using detail::parse_json;
  for (const std::string& deep : {deep_arrays(kDeep), deep_objects(kDeep)}) {
    const std::string message = refusal([&] { parse_json(deep, "deep.json", Status::Corrupt); }, Status::Corrupt);
    CHECK_THAT(message, Contains("deep.json") && Contains("deeper than 64 levels"));
    CHECK(detail::is_valid_utf8(message));
  }
  // The bound itself: 64 levels parse, 65 do not.
  CHECK(parse_json(deep_arrays(64), "x", Status::Corrupt).is_array());
  CHECK(parse_json(deep_objects(64), "x", Status::Corrupt).is_object());
  CHECK_THAT(refusal([&] { parse_json(deep_arrays(65), "x", Status::InvalidArgument); }, Status::InvalidArgument),
             Contains("deeper than 64 levels"));
  // The path where it happens.
  CHECK_THAT(refusal([&] { parse_json("{\"settings\": [1, " + deep_arrays(70) + "]}", "x", Status::Corrupt); }, Status::Corrupt),
             Contains("/settings/1/0/0"));
}

TEST_CASE("parse_json refuses a key twice in one object, naming it and the object", "[json][hostile]") {
  using detail::parse_json;
  CHECK_THAT(refusal([] { parse_json(R"({"k": 3, "k": 1000})", "c.json", Status::InvalidArgument); }, Status::InvalidArgument),
             Contains("c.json") && Contains("duplicate key \"k\"") && Contains("top-level object"));
  CHECK_THAT(refusal([] { parse_json(R"({"training": {"seed": 1, "dropout": 0.1, "seed": 2}})", "c.json", Status::InvalidArgument); },
                     Status::InvalidArgument),
             Contains("duplicate key \"seed\"") && Contains("/training"));
  CHECK_THAT(refusal([] { parse_json(R"([{"a": 1}, {"b": {"x": 1, "x": 1}}])", "s", Status::Corrupt); }, Status::Corrupt),
             Contains("duplicate key \"x\"") && Contains("/1/b"));
  // The same key in different objects is no duplicate.
  const nlohmann::json j = parse_json(R"({"a": {"k": 1}, "b": [{"k": 2}, {"k": 3}], "k": 4})", "x", Status::Corrupt);
  CHECK(j["k"].get<int>() == 4);
  CHECK(j["b"][1]["k"].get<int>() == 3);
}

TEST_CASE("parse_json: text that is not JSON is refused with the caller's status, the message in UTF-8", "[json]") {
  using detail::parse_json;
  for (const std::string& bad : {std::string("{"), std::string("{} x"), std::string(""), std::string("{\"a\": \"caf\xe9\"}"),
                                 std::string("[1e999]")}) {
    INFO(bad);
    const std::string message = refusal([&] { parse_json(bad, "where.json", Status::InvalidArgument); }, Status::InvalidArgument);
    CHECK_THAT(message, Contains("where.json") && Contains("not valid JSON"));
    CHECK(detail::is_valid_utf8(message));
  }
  CHECK(parse_json(std::string(" {\"caf\xc3\xa9\": [true, null, -1, 2.5, \"x\"]} "), "x", Status::Corrupt).size() == 1);
}

TEST_CASE("is_valid_utf8 is strict: no overlong form, surrogate, truncation or code point above U+10FFFF", "[utf8]") {
  using detail::is_valid_utf8;
  for (const std::string& good : {std::string(""), std::string("plain ascii"), std::string("caf\xc3\xa9"), std::string("\xe2\x82\xac"),
                                  std::string("\xf0\x9f\x98\x80"), std::string("\xf4\x8f\xbf\xbf"), std::string("\xed\x9f\xbf"),
                                  std::string("\xee\x80\x80"), std::string("\xef\xbf\xbf"), std::string("\xc2\x80"), std::string("a\0b", 3)}) {
    INFO(detail::escape_non_utf8(good));
    CHECK(is_valid_utf8(good));
  }
  for (const std::string& bad : {std::string("caf\xe9"), std::string("caf\xe9.jpg"),  // Latin-1
                                 std::string("\xc0\x80"), std::string("\xc1\xbf"),     // overlong 2-byte forms
                                 std::string("\xe0\x80\x80"), std::string("\xe0\x9f\xbf"), std::string("\xf0\x80\x80\x80"),
                                 std::string("\xf0\x8f\xbf\xbf"),                       // overlong 3- and 4-byte forms
                                 std::string("\xed\xa0\x80"), std::string("\xed\xbf\xbf"),  // surrogates U+D800, U+DFFF
                                 std::string("\xe2\x82"), std::string("\xf0\x9f\x98"), std::string("\xc3"),  // truncated
                                 std::string("\xf4\x90\x80\x80"), std::string("\xf5\x80\x80\x80"), std::string("\xff"),
                                 std::string("\xfe"),                                   // above U+10FFFF, never UTF-8
                                 std::string("\x80"), std::string("a\xbf"),             // stray continuation bytes
                                 std::string("\xc3\x28"), std::string("\xe2\x28\xa1")}) {  // a lead byte without its continuation
    INFO(detail::escape_non_utf8(bad));
    CHECK_FALSE(is_valid_utf8(bad));
  }
  CHECK(detail::escape_non_utf8("caf\xe9.jpg") == "caf\\xE9.jpg");
  CHECK(detail::escape_non_utf8("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(detail::escape_non_utf8("\xed\xa0\x80") == "\\xED\\xA0\\x80");
  CHECK_THAT(refusal([] { detail::require_utf8("caf\xe9", "label"); }, Status::InvalidArgument), Contains("label \"caf\\xE9\""));
}

TEST_CASE("a configuration nested 200,000 levels deep or with a key twice is refused - a FIFO at once", "[config][json][hostile]") {
  dstest::ScratchDir dir;
  const std::string deep = dir.file("deep.json");
  write_text(deep, deep_arrays(kDeep));  // crashed the loader (a recursive dump for the message) before
  CHECK_THAT(refusal([&] { PipelineConfig::load(deep); }, Status::InvalidArgument), Contains(deep) && Contains("deeper than 64 levels"));
  write_text(deep, "{\"embedding\": " + deep_objects(kDeep) + "}");
  CHECK_THAT(refusal([&] { PipelineConfig::load(deep); }, Status::InvalidArgument), Contains(deep) && Contains("/embedding/a/a"));

  const std::string twice = dir.file("twice.json");
  write_text(twice, R"({"backbone": "b.json", "k": 3, "k": 1000})");  // took k = 1000 silently before
  CHECK_THAT(refusal([&] { PipelineConfig::load(twice); }, Status::InvalidArgument), Contains(twice) && Contains("duplicate key \"k\""));
  write_text(twice, R"({"backbone": "b.json", "k": 3})");
  CHECK(PipelineConfig::load(twice).k == 3);

  const std::string fifo = dir.file("fifo.json");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THAT(refusal([&] { PipelineConfig::load(fifo); }, Status::Io), Contains(fifo) && Contains("FIFO"));
  CHECK_THAT(refusal([&] { ModelManifest::load(fifo); }, Status::Io), Contains(fifo) && Contains("FIFO"));
  const bool at_once = std::chrono::steady_clock::now() - start < std::chrono::seconds(5);
  CHECK(at_once);
  CHECK_THAT(refusal([] { PipelineConfig::load("/dev/zero"); }, Status::Io), Contains("character device"));
}

TEST_CASE("a model manifest with a key twice is refused naming the key", "[model][json][hostile]") {
  const std::string text = R"({"name": "a", "format": "onnx", "format": "torchscript", "file": "m.pt",
                               "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
                               "input": {"width": 32, "height": 32}, "outputs": {"features": 0}})";
  CHECK_THAT(refusal([&] { ModelManifest::parse(text, "/models"); }, Status::InvalidArgument), Contains("duplicate key \"format\""));
}

TEST_CASE("a CSV that is /dev/zero or a FIFO is refused at once, not read", "[pipeline][csv][hostile]") {
  REQUIRE(std::filesystem::exists("/dev/zero"));
  // Read until bad_alloc before.
  CHECK_THAT(refusal([] { read_catalogue_csv("/dev/zero"); }, Status::Io), Contains("/dev/zero") && Contains("character device"));
  dstest::ScratchDir dir;
  const std::string fifo = dir.file("items.csv");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THAT(refusal([&] { read_catalogue_csv(fifo); }, Status::Io), Contains("FIFO"));
  CHECK(dstest::status_of([&] { read_catalogue_csv(dir.file("absent.csv")); }) == Status::Io);
}

TEST_CASE("a catalogue whose CONF nests 200,000 levels deep or repeats a key is Corrupt, not a crash", "[pipeline][json][hostile]") {
  dstest::ScratchDir dir;
  const detail::FileKind catalogue_kind{{'D', 'S', 'C', 'A', 'T', 'L', 'G', '\0'}, 1, 0, "catalogue"};
  const std::string file = dir.file("deep.dscat");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"embedding\": " + deep_arrays(kDeep) + "}", "deeper than 64 levels"},  // inspect copied it recursively: a crash
      {R"({"embedding": {}, "backbone_sha256": "a", "backbone_sha256": "b"})", "duplicate key \"backbone_sha256\""},
  };
  for (const auto& [conf, says] : cases) {
    INFO(says);
    {
      detail::SectionWriter writer(file, catalogue_kind);
      writer.add_section(detail::tag("CONF"), conf.data(), conf.size());
      writer.add_section(detail::tag("SRCS"), "[]", 2);
      writer.commit();
    }
    CHECK_THAT(refusal([&] { Pipeline::inspect(file); }, Status::Corrupt), Contains("deep.dscat") && Contains("CONF") && Contains(says));
  }
}

TEST_CASE("json_integer reads integers that fit and refuses fractions and out-of-range numbers (no UB)", "[json][hostile]") {
  using nlohmann::json;
  CHECK(detail::json_integer<std::uint64_t>(json::parse("18446744073709551615"), "key", Status::Corrupt) == UINT64_MAX);
  CHECK(detail::json_integer<int>(json::parse("-7"), "n", Status::Corrupt) == -7);
  // 1.2e25 as a float converted to uint64 is undefined behaviour (found by fuzz_catalogue_json in SRCS).
  for (const char* text : {"1.2345678446440774e25", "2.5", "-1", "\"5\"", "null"})
    CHECK(dstest::status_of([&] { detail::json_integer<std::uint64_t>(json::parse(text), "SRCS key", Status::Corrupt); }) == Status::Corrupt);
  CHECK(dstest::status_of([&] { detail::json_integer<int>(json::parse("4294967296"), "dimension", Status::Corrupt); }) == Status::Corrupt);
  CHECK(dstest::status_of([&] { detail::json_integer<int>(json::parse("-2147483649"), "dimension", Status::Corrupt); }) == Status::Corrupt);
}
