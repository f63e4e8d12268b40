#include "io/json_text.hpp"

#include <unordered_set>
#include <utility>
#include <vector>

namespace domainsearch::detail {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxShownKey = 100;    // characters of a key in a message
constexpr std::size_t kMaxShownPath = 300;   // characters of a path in a message

// A key for a message: JSON-quoted in ASCII (control characters and the rest escaped), cut when long.
std::string shown_key(const std::string& key) {
  std::string text = json(key).dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > kMaxShownKey) text = text.substr(0, kMaxShownKey) + "...\"";
  return text;
}

// Checks the shape of a document as nlohmann's SAX parser (iterative: no recursion however deep the
// input) reads it: depth and duplicate keys. Stops at the first problem, which it records.
class ShapeChecker final : public json::json_sax_t {
 public:
  explicit ShapeChecker(std::size_t max_depth) : max_depth_(max_depth) {}

  const std::string& problem() const noexcept { return problem_; }

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }

  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t& name) override {
    Frame& object = frames_.back();
    if (!object.keys.insert(name).second) {
      const std::string at = path(frames_.size() - 1);
      problem_ = "duplicate key " + shown_key(name) + " in " + (at.empty() ? std::string("the top-level object") : "the object at " + at);
      return false;
    }
    object.key = name;
    return true;
  }
  bool end_object() override { return close(); }

  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }

  bool parse_error(std::size_t, const std::string&, const json::exception& e) override {
    problem_ = std::string("not valid JSON (") + escape_non_utf8(e.what()) + ")";
    return false;
  }

 private:
  struct Frame {
    bool object = false;
    std::size_t items = 0;               // an array's values so far
    std::string key;                     // an object's current key
    std::unordered_set<std::string> keys;  // an object's keys so far
  };

  // A value starts (scalar, array or object): it is the next item of the array it is in.
  bool value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().items;
    return true;
  }

  bool open(bool object) {
    value();
    if (frames_.size() >= max_depth_) {
      const std::string at = path(frames_.size());
      problem_ = "arrays and objects nest deeper than " + std::to_string(max_depth_) + " levels (at " + (at.empty() ? "/" : at) + ")";
      return false;
    }
    frames_.emplace_back();
    frames_.back().object = object;
    return true;
  }

  bool close() {
    frames_.pop_back();
    return true;
  }

  // Where the value being read in frames_[count - 1] is, as a JSON pointer ("/training/0"; "" at the top).
  std::string path(std::size_t count) const {
    std::string out;
    for (std::size_t i = 0; i < count && i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      out += "/" + (f.object ? f.key : std::to_string(f.items > 0 ? f.items - 1 : std::size_t{0}));
      if (out.size() > kMaxShownPath) return json(out.substr(0, kMaxShownPath)).dump(-1, ' ', true, json::error_handler_t::replace) + "...";
    }
    if (out.empty()) return out;
    return json(out).dump(-1, ' ', true, json::error_handler_t::replace);  // quoted, in ASCII
  }

  std::size_t max_depth_;
  std::vector<Frame> frames_;
  std::string problem_;
};

}  // namespace

nlohmann::json parse_json(const char* begin, const char* end, const std::string& where, Status status) {
  try {
    ShapeChecker checker(kMaxJsonDepth);
    if (!json::sax_parse(begin, end, &checker)) {
      const std::string& problem = checker.problem();
      throw Error(status, where + ": " + (problem.empty() ? std::string("not valid JSON") : problem));
    }
    return json::parse(begin, end);
  } catch (const json::exception& e) {  // not expected once the checker accepted the text
    throw Error(status, where + ": not valid JSON (" + escape_non_utf8(e.what()) + ")");
  }
}

}  // namespace domainsearch::detail
