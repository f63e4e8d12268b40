// libFuzzer target: a catalogue's FTUN section (a fine-tuned backbone's parameters and its item
// classifier, FineTunedModel::deserialize) from untrusted bytes must throw domainsearch::Error or
// parse, never crash, and never allocate for parameters more than the bytes it is given hold (run with
// -rss_limit_mb: a declared shape is only a claim). The seed corpus is tests/fuzz/corpus/fine_tuned.
#include <cstddef>
#include <cstdint>

#include "domainsearch/error.hpp"
#include "training/fine_tuned_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const domainsearch::detail::FineTunedModel model = domainsearch::detail::FineTunedModel::deserialize(data, size, "fuzz.ftun");
    std::size_t floats = 0;
    for (const domainsearch::ParameterTensor& p : model.parameters) floats += p.values.size();
    if (floats > size / sizeof(float)) __builtin_trap();  // more values than the input could hold
    if (!model.classifier || model.item_labels.size() != model.item_categories.size() ||
        static_cast<std::size_t>(model.classifier->category_count()) != model.item_labels.size())
      __builtin_trap();
  } catch (const domainsearch::Error&) {
  }
  return 0;
}
