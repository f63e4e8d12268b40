// pybind11 bindings: `import domainsearch`. Images come in as numpy uint8 arrays (HxW or HxWx1 gray,
// HxWx3 RGB, HxWx4 RGBA; other dtypes are refused), bytes or paths, all within the pipeline's decode
// limits; embeddings and distances go out as numpy arrays. The GIL is released
// around every heavy call; progress callbacks re-acquire it and honour Ctrl-C (KeyboardInterrupt).
// Library errors become domainsearch.Error subclasses named after their Status (ConflictError, ...), with
// the same message and a .status name. Configurations and results have one-line reprs and pickle; a
// Pipeline is a context manager whose close() releases its models.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <domainsearch/error.hpp>
#include <domainsearch/index.hpp>
#include <domainsearch/pipeline.hpp>
#include <domainsearch/shards.hpp>
#include <domainsearch/version.hpp>

#include "inference_process.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace domainsearch;

namespace {

using U8Array = py::array_t<std::uint8_t, py::array::c_style>;
using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

// The size an image array declares (its shape), checked against the pipeline's decode limits before
// any copy: a view may declare far more pixels than it holds (np.broadcast_to gives zero strides, so
// 50000x50000x3 fits in 3 bytes), and its contiguous copy would have to allocate them all.
void check_array_size(py::ssize_t height, py::ssize_t width, const DecodeLimits& limits) {
  const auto w = static_cast<std::uint64_t>(width), h = static_cast<std::uint64_t>(height);
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (h != 0 && w > limits.max_pixels / h)  // w * h > max_pixels, without overflow
    throw Error(Status::ImageTooLarge, "image array is " + size + " pixels, over the limit of " + std::to_string(limits.max_pixels) +
                                           " pixels (the configuration's max_pixels); refused before any copy");
  if (w > static_cast<std::uint64_t>(INT_MAX) || h > static_cast<std::uint64_t>(INT_MAX))
    throw Error(Status::ImageTooLarge, "image array is " + size + " pixels: a side is over the limit of " + std::to_string(INT_MAX) + " pixels");
}

// A numpy image: uint8 only (a float image in 0..1 cast to uint8 would be near-black, int64 pixels
// would wrap), HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA); checked against the pipeline's limits like a
// decoded file, its declared size before anything is copied.
Image image_from_array(const py::array& array, const Pipeline& pipeline) {
  if (!array.dtype().is(py::dtype::of<std::uint8_t>()))
    throw Error(Status::InvalidArgument, "images must be uint8 arrays (0..255); got " + std::string(py::str(array.dtype())) +
                                             ": scale and convert with (img * 255).astype(np.uint8)");
  PixelFormat format;
  const py::ssize_t ndim = array.ndim();
  if (ndim == 2 || (ndim == 3 && array.shape(2) == 1)) format = PixelFormat::Gray8;
  else if (ndim == 3 && array.shape(2) == 3) format = PixelFormat::RGB8;
  else if (ndim == 3 && array.shape(2) == 4) format = PixelFormat::RGBA8;
  else throw Error(Status::InvalidArgument, "image array must be HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) uint8");
  check_array_size(array.shape(0), array.shape(1), pipeline.config().decode);
  const U8Array a = U8Array::ensure(array);  // C-contiguous (a copy only when the array is not)
  if (!a)  // the copy failed (ensure() cleared numpy's error): never read through it
    throw Error(Status::OutOfMemory, "image array of " + std::to_string(array.shape(1)) + "x" + std::to_string(array.shape(0)) +
                                         " pixels: its contiguous copy could not be made (out of memory)");
  const ImageView view{a.data(), static_cast<int>(a.shape(1)), static_cast<int>(a.shape(0)), static_cast<std::size_t>(a.strides(0)), format};
  py::gil_scoped_release release;
  return pipeline.from_pixels(view);
}

// Accepts a path (str or os.PathLike), encoded bytes, or a numpy uint8 array; decoded by the pipeline
// (within its config().decode, as for the command and the C ABI).
Image to_image(const py::object& source, const Pipeline& pipeline) {
  if (py::isinstance<py::bytes>(source)) {
    const std::string bytes = source.cast<std::string>();
    py::gil_scoped_release release;
    return pipeline.decode_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "bytes");
  }
  if (py::isinstance<py::str>(source) || py::hasattr(source, "__fspath__")) {
    const std::string path = py::str(py::module_::import("os").attr("fspath")(source));
    py::gil_scoped_release release;
    return pipeline.decode_file(path);
  }
  if (!py::isinstance<py::array>(source))
    throw Error(Status::InvalidArgument, "an image is a path, bytes or a numpy uint8 array; got " +
                                             std::string(py::str(py::type::of(source).attr("__name__"))));
  return image_from_array(py::reinterpret_borrow<py::array>(source), pipeline);
}

using KeyArray = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;

// Index keys: non-negative integers below 2**64-1, which search() pads missing results with (the C
// ABI's DS_KEY_NONE; the C++ Index refuses it too). Floats or negatives are refused, not cast.
KeyArray index_keys(const py::object& given) {
  const py::array keys = py::module_::import("numpy").attr("asarray")(given);  // a list of ints too
  const char kind = keys.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw Error(Status::InvalidArgument, "add: keys must be an integer array; got " + std::string(py::str(keys.dtype())));
  if (kind == 'i' && py::module_::import("numpy").attr("any")(keys.attr("__lt__")(0)).cast<bool>())
    throw Error(Status::InvalidArgument, "add: keys must be non-negative");
  const KeyArray out = KeyArray::ensure(keys);
  if (!out) throw Error(Status::OutOfMemory, "add: the keys' contiguous uint64 copy could not be made (out of memory)");
  const std::uint64_t* k = out.data();
  for (py::ssize_t i = 0; i < out.size(); ++i)
    if (k[i] == UINT64_MAX)
      throw Error(Status::InvalidArgument, "add: key 2**64-1 is reserved: search() returns it for \"no result\"");
  return out;
}

py::array_t<std::uint8_t> image_to_array(const Image& im) {
  py::array_t<std::uint8_t> out({im.height(), im.width(), 3});
  std::memcpy(out.mutable_data(), im.data(), im.stride() * static_cast<std::size_t>(im.height()));
  return out;
}

ProgressFn python_progress(const py::object& callback) {
  return [callback](std::size_t done, std::size_t total) {
    py::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (callback.is_none()) return true;
    const py::object keep_going = callback(done, total);
    return keep_going.is_none() || keep_going.cast<bool>();
  };
}

// progress(dict) for training: stage, epoch, epochs, done, total, loss, eta_seconds; False cancels.
TrainingProgressFn python_training_progress(const py::object& callback) {
  return [callback](const TrainingProgress& t) {
    py::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (callback.is_none()) return true;
    const py::object keep_going = callback(py::dict("stage"_a = t.stage, "epoch"_a = t.epoch, "epochs"_a = t.epochs, "done"_a = t.done,
                                                    "total"_a = t.total, "loss"_a = t.loss, "eta_seconds"_a = t.eta_seconds));
    return keep_going.is_none() || keep_going.cast<bool>();
  };
}

// (path, reason) of each failure.
py::list failures_list(const std::vector<IndexingFailure>& failures) {
  py::list out;
  for (const IndexingFailure& f : failures) out.append(py::make_tuple(f.path, f.reason));
  return out;
}

py::dict fine_tuning_dict(const FineTuningReport& r) {
  return py::dict("photos"_a = r.photos, "views"_a = r.views, "items"_a = r.items, "skipped"_a = r.skipped, "final_loss"_a = r.final_loss,
                  "temperature"_a = r.temperature, "calibration_accuracy"_a = r.calibration_accuracy, "cache_seconds"_a = r.cache_seconds,
                  "training_seconds"_a = r.training_seconds, "reembedding_seconds"_a = r.reembedding_seconds, "cache_bytes"_a = r.cache_bytes,
                  "cache_spilled"_a = r.cache_spilled, "dropped"_a = failures_list(r.dropped));
}

// Runs an indexing call without the GIL and reports it as a dict.
py::dict run_indexing(const py::object& progress, const std::function<IndexingReport(const ProgressFn&)>& work) {
  const ProgressFn fn = python_progress(progress);
  IndexingReport r;
  {
    py::gil_scoped_release release;
    r = work(fn);
  }
  return py::dict("added"_a = r.added, "skipped_existing"_a = r.skipped_existing, "failed"_a = r.failures.size(), "failures"_a = failures_list(r.failures),
                  "cancelled"_a = r.cancelled, "seconds"_a = r.seconds);
}

// Rows (path, label, category) or (path, label, category, key) as catalogue entries.
std::vector<CatalogueEntry> entries_of(const py::list& rows) {
  std::vector<CatalogueEntry> out;
  for (const py::handle& row : rows) {
    const py::tuple t = py::tuple(py::reinterpret_borrow<py::object>(row));
    if (t.size() != 3 && t.size() != 4)
      throw Error(Status::InvalidArgument, "a row is (path, label, category) or (path, label, category, key), got " + std::to_string(t.size()) + " fields");
    CatalogueEntry e{py::str(t[0]), py::str(t[1]), py::str(t[2]), std::nullopt};
    if (t.size() == 4 && !t[3].is_none()) e.key = t[3].cast<std::uint64_t>();
    out.push_back(std::move(e));
  }
  return out;
}

// Pickling (Dask moves analyses and responses between processes): plain tuples of the fields.
py::tuple analysis_state(const ImageAnalysis& a) {
  const py::bytes embedding(reinterpret_cast<const char*>(a.embedding.data()), a.embedding.size() * sizeof(float));
  py::object contour = py::none();
  if (a.contour) {
    const std::vector<std::uint8_t> bytes = a.contour->serialize();
    contour = py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return py::make_tuple(embedding, contour);
}

ImageAnalysis analysis_from_state(const py::tuple& t) {
  if (t.size() != 2) throw Error(Status::InvalidArgument, "ImageAnalysis: malformed pickled state");
  const std::string embedding = t[0].cast<std::string>();
  if (embedding.size() % sizeof(float) != 0) throw Error(Status::InvalidArgument, "ImageAnalysis: malformed pickled embedding");
  ImageAnalysis a;
  a.embedding.resize(embedding.size() / sizeof(float));
  std::memcpy(a.embedding.data(), embedding.data(), embedding.size());
  if (!t[1].is_none()) {
    const std::string contour = t[1].cast<std::string>();
    a.contour = ContourMask::deserialize(reinterpret_cast<const std::uint8_t*>(contour.data()), contour.size());
  }
  return a;
}

// An item's photos as [(key, distance)], nearest first; [] for a photo.
py::list photo_list(const QueryResult& r) {
  py::list out;
  for (const ItemPhoto& p : r.photos) out.append(py::make_tuple(p.key, p.distance));
  return out;
}

py::tuple result_state(const QueryResult& r) {
  return py::make_tuple(r.key, r.label, r.category, r.source, r.distance, r.iou, r.score, r.match_probability, photo_list(r));
}

// Nine fields; eight (pickled before results had photos) give no photos.
QueryResult result_from_state(const py::tuple& t) {
  if (t.size() != 8 && t.size() != 9) throw Error(Status::InvalidArgument, "QueryResult: malformed pickled state");
  QueryResult r{t[0].cast<std::uint64_t>(), t[1].cast<std::string>(), t[2].cast<std::string>(), t[3].cast<std::string>(),
                t[4].cast<float>(),         t[5].cast<float>(),       t[6].cast<float>(),       t[7].cast<float>(), {}};
  if (t.size() == 9)
    for (const py::handle& p : t[8].cast<py::list>()) {
      const py::tuple photo = py::reinterpret_borrow<py::tuple>(p);
      r.photos.push_back({photo[0].cast<std::uint64_t>(), photo[1].cast<float>()});
    }
  return r;
}

// A response's fields without the localisation (the pixels stay where the query was embedded).
py::tuple response_state(const QueryResponse& r) {
  py::list results, predicted;
  for (const QueryResult& x : r.results) results.append(result_state(x));
  for (const NamedCategoryScore& p : r.predicted) predicted.append(py::make_tuple(p.category, p.probability));
  const StageTimings& t = r.timings;
  return py::make_tuple(results, predicted, r.searched, r.no_match,
                        py::make_tuple(t.decode_ms, t.localize_ms, t.embed_ms, t.categorize_ms, t.search_ms, t.rerank_ms, t.total_ms),
                        r.confidence);
}

// Six fields; five (pickled before responses had a confidence) give confidence -1.
QueryResponse response_from_state(const py::tuple& t) {
  if (t.size() != 5 && t.size() != 6) throw Error(Status::InvalidArgument, "QueryResponse: malformed pickled state");
  QueryResponse r;
  if (t.size() == 6) r.confidence = t[5].cast<float>();
  for (const py::handle& x : t[0].cast<py::list>()) r.results.push_back(result_from_state(py::reinterpret_borrow<py::tuple>(x)));
  for (const py::handle& p : t[1].cast<py::list>()) {
    const py::tuple pair = py::reinterpret_borrow<py::tuple>(p);
    r.predicted.push_back({pair[0].cast<std::string>(), pair[1].cast<float>()});
  }
  r.searched = t[2].cast<std::vector<std::string>>();
  r.no_match = t[3].cast<bool>();
  const py::tuple ms = t[4].cast<py::tuple>();
  r.timings = StageTimings{ms[0].cast<double>(), ms[1].cast<double>(), ms[2].cast<double>(), ms[3].cast<double>(),
                           ms[4].cast<double>(), ms[5].cast<double>(), ms[6].cast<double>()};
  return r;
}

py::tuple object_state(const FoundObject& o) {
  return py::make_tuple(py::make_tuple(o.box.x, o.box.y, o.box.width, o.box.height), response_state(o.answer));
}

FoundObject object_from_state(const py::tuple& t) {
  if (t.size() != 2) throw Error(Status::InvalidArgument, "FoundObject: malformed pickled state");
  const py::tuple box = t[0].cast<py::tuple>();
  return {BoundingBox{box[0].cast<int>(), box[1].cast<int>(), box[2].cast<int>(), box[3].cast<int>()}, response_from_state(t[1].cast<py::tuple>())};
}

py::tuple objects_state(const ObjectsResponse& r) {
  py::list objects, items;
  for (const FoundObject& o : r.objects) objects.append(object_state(o));
  for (const ItemCount& c : r.items) items.append(py::make_tuple(c.label, c.category, c.count));
  const ObjectTimings& t = r.timings;
  return py::make_tuple(r.width, r.height, objects, items, r.unmatched,
                        py::make_tuple(t.decode_ms, t.find_ms, t.crop_ms, t.embed_ms, t.search_ms, t.total_ms));
}

ObjectsResponse objects_from_state(const py::tuple& t) {
  if (t.size() != 6) throw Error(Status::InvalidArgument, "ObjectsResponse: malformed pickled state");
  ObjectsResponse r;
  r.width = t[0].cast<int>(), r.height = t[1].cast<int>();
  for (const py::handle& o : t[2].cast<py::list>()) r.objects.push_back(object_from_state(py::reinterpret_borrow<py::tuple>(o)));
  for (const py::handle& c : t[3].cast<py::list>()) {
    const py::tuple item = py::reinterpret_borrow<py::tuple>(c);
    r.items.push_back({item[0].cast<std::string>(), item[1].cast<std::string>(), item[2].cast<std::size_t>()});
  }
  r.unmatched = t[4].cast<std::size_t>();
  const py::tuple ms = t[5].cast<py::tuple>();
  r.timings = ObjectTimings{ms[0].cast<double>(), ms[1].cast<double>(), ms[2].cast<double>(), ms[3].cast<double>(), ms[4].cast<double>(),
                            ms[5].cast<double>()};
  return r;
}

// items: None = the configuration's one_result_per_label (items unless it is False), True = items, False = photos.
QueryOptions query_options(std::optional<std::size_t> k, const std::string& category, std::optional<bool> items) {
  QueryOptions o;
  o.k = k;
  o.category = category;
  o.one_result_per_label = items;
  return o;
}

// ---- pickled configurations: every field by name (enums as numbers), so that a pickle made by an older
// version loads with the defaults for the fields it lacks, and a field this version does not know is
// refused rather than dropped. PipelineConfig has no JSON writer; its state is its fields.

// Writes each visited field into a dict.
struct StateWriter {
  py::dict state;
  template <typename T>
  void operator()(const std::string& key, const T& field) {
    if constexpr (std::is_enum_v<T>) state[py::str(key)] = static_cast<long long>(field);
    else state[py::str(key)] = field;
  }
};

// Reads each visited field from a dict (absent: the field keeps its default); check() refuses names
// that no visited field has.
struct StateReader {
  const py::dict& state;
  std::set<std::string> known;
  template <typename T>
  void operator()(const std::string& key, T& field) {
    known.insert(key);
    const py::str name(key);
    if (!state.contains(name)) return;
    const py::object value = state[name];
    if constexpr (std::is_enum_v<T>) field = static_cast<T>(value.cast<long long>());
    else field = value.cast<T>();
  }
  void check(const std::string& type) const {
    for (const auto& item : state) {
      const std::string key = py::str(py::reinterpret_borrow<py::object>(item.first));
      if (known.count(key) == 0)
        throw Error(Status::InvalidArgument, type + ": the pickled state has a field \"" + key +
                                                 "\" this version does not know (pickled by a newer libdomainsearch?)");
    }
  }
};

// The fields of each configuration struct, for StateWriter (C const) and StateReader.
template <class C, class V>
void visit_fields(C& o, const std::string& at, V& v, FineTuningOptions*) {
  v(at + "enabled", o.enabled);
  v(at + "first_stage", o.first_stage);
  v(at + "epochs", o.epochs);
  v(at + "views", o.views);
  v(at + "composites", o.composites);
  v(at + "batch_size", o.batch_size);
  v(at + "backbone_learning_rate", o.backbone_learning_rate);
  v(at + "classifier_learning_rate", o.classifier_learning_rate);
  v(at + "weight_decay", o.weight_decay);
  v(at + "label_smoothing", o.label_smoothing);
  v(at + "classifier_scale", o.classifier_scale);
  v(at + "metric_loss_weight", o.metric_loss_weight);
  v(at + "metric_temperature", o.metric_temperature);
  v(at + "rows_per_item", o.rows_per_item);
  v(at + "calibration_fraction", o.calibration_fraction);
  v(at + "cache_memory_bytes", o.cache_memory_bytes);
  v(at + "seed", o.seed);
}

// CategoryTrainingOptions without on_epoch (a C++ callback; PipelineConfig's are never set).
template <class C, class V>
void visit_fields(C& t, const std::string& at, V& v, CategoryTrainingOptions*) {
  v(at + "recipe", t.recipe);
  v(at + "max_epochs", t.max_epochs);
  v(at + "batch_size", t.batch_size);
  v(at + "learning_rate", t.learning_rate);
  v(at + "weight_decay", t.weight_decay);
  v(at + "validation_fraction", t.validation_fraction);
  v(at + "plateau_patience", t.plateau_patience);
  v(at + "plateau_factor", t.plateau_factor);
  v(at + "early_stopping_patience", t.early_stopping_patience);
  v(at + "hidden1", t.hidden1);
  v(at + "hidden2", t.hidden2);
  v(at + "dropout", t.dropout);
  v(at + "seed", t.seed);
}

// PipelineConfig without localizer.matting_model (a loaded manifest, set only from C++: refused by
// config_state).
template <class C, class V>
void visit_fields(C& c, const std::string& at, V& v, PipelineConfig*) {
  v(at + "backbone_manifest", c.backbone_manifest);
  v(at + "segmenter_manifest", c.segmenter_manifest);
  v(at + "object_finder_manifest", c.object_finder_manifest);
  v(at + "runtime.device", c.runtime.device);
  v(at + "runtime.threads", c.runtime.threads);
  v(at + "runtime.warmup_runs", c.runtime.warmup_runs);
  v(at + "localize", c.localize);
  v(at + "localizer.threshold_method", c.localizer.threshold_method);
  v(at + "localizer.threshold", c.localizer.threshold);
  v(at + "localizer.keep_largest_component", c.localizer.keep_largest_component);
  v(at + "localizer.fill_holes", c.localizer.fill_holes);
  v(at + "localizer.refinement", c.localizer.refinement);
  v(at + "localizer.trimap_low", c.localizer.trimap_low);
  v(at + "localizer.trimap_high", c.localizer.trimap_high);
  v(at + "localizer.guided_radius", c.localizer.guided_radius);
  v(at + "localizer.guided_epsilon", c.localizer.guided_epsilon);
  v(at + "localizer.min_confidence", c.localizer.min_confidence);
  v(at + "localizer.fallback", c.localizer.fallback);
  v(at + "localizer.mask_side", c.localizer.mask_side);
  v(at + "localizer.mask_frame", c.localizer.mask_frame);
  v(at + "features.l2_normalize", c.features.l2_normalize);
  v(at + "features.grayscale", c.features.grayscale);
  v(at + "features.batch_size", c.features.batch_size);
  v(at + "decode.max_pixels", c.decode.max_pixels);
  v(at + "decode.min_side", c.decode.min_side);
  v(at + "decode.max_file_bytes", c.decode.max_file_bytes);
  v(at + "decode.max_decode_bytes", c.decode.max_decode_bytes);
  v(at + "decode.max_jpeg_scans", c.decode.max_jpeg_scans);
  v(at + "category_mode", c.category_mode);
  v(at + "soft_threshold", c.soft_threshold);
  v(at + "max_categories", c.max_categories);
  v(at + "k", c.k);
  v(at + "rerank", c.rerank);
  v(at + "iou_weight", c.iou_weight);
  v(at + "rerank_depth", c.rerank_depth);
  v(at + "one_result_per_label", c.one_result_per_label);
  v(at + "batch_size", c.batch_size);
  visit_fields(c.training, at + "training.", v, static_cast<CategoryTrainingOptions*>(nullptr));
  v(at + "training_views", c.training_views);
  v(at + "adapt_embedding", c.adapt_embedding);
  visit_fields(c.adaptation_training, at + "adaptation_training.", v, static_cast<CategoryTrainingOptions*>(nullptr));
  v(at + "match_threshold", c.match_threshold);
  v(at + "match_distance", c.match_distance);
  v(at + "confidence.bias", c.confidence.bias);
  v(at + "confidence.probability", c.confidence.probability);
  v(at + "confidence.distance", c.confidence.distance);
  v(at + "confidence.margin", c.confidence.margin);
  v(at + "min_confidence", c.min_confidence);
  v(at + "object_rules", c.object_rules);
  visit_fields(c.fine_tuning, at + "fine_tuning.", v, static_cast<FineTuningOptions*>(nullptr));
}

template <class T>
py::dict state_of(const T& value) {
  StateWriter writer;
  visit_fields(value, "", writer, static_cast<T*>(nullptr));
  return writer.state;
}

template <class T>
T from_state(const py::dict& state, const std::string& type) {
  T value;
  StateReader reader{state, {}};
  visit_fields(value, "", reader, static_cast<T*>(nullptr));
  reader.check(type);
  return value;
}

py::dict config_state(const PipelineConfig& c) {
  if (c.localizer.matting_model)
    throw Error(Status::InvalidArgument, "PipelineConfig: a configuration with a matting model (localizer.matting_model, set in C++) cannot be pickled");
  return state_of(c);
}

// ---- reprs: one line each, strings as Python writes them, numbers in 6 significant digits.

// A string as Python's repr() writes it; bytes that are not UTF-8 as \x escapes, never an error.
std::string quoted(const std::string& s) {
  const py::object text =
      py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "backslashreplace"));
  if (!text) throw py::error_already_set();
  return py::repr(text).cast<std::string>();
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

std::string truth(bool b) { return b ? "True" : "False"; }

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + quoted(names[i]);
  return out + "]";
}

std::string result_repr(const QueryResult& r) {
  std::string out = "QueryResult(key=" + std::to_string(r.key) + ", label=" + quoted(r.label) + ", category=" + quoted(r.category) +
                    ", distance=" + number(r.distance) + ", score=" + number(r.score) + ", iou=" + number(r.iou);
  if (r.match_probability >= 0) out += ", match_probability=" + number(r.match_probability);
  if (!r.source.empty()) out += ", source=" + quoted(r.source);
  if (!r.photos.empty()) out += ", photos=" + std::to_string(r.photos.size());
  return out + ")";
}

std::string response_repr(const QueryResponse& r) {
  std::string out = "QueryResponse(results=" + std::to_string(r.results.size());
  if (!r.results.empty()) {
    const QueryResult& first = r.results.front();
    out += ", first=(key=" + std::to_string(first.key) + ", label=" + quoted(first.label) + ", distance=" + number(first.distance) + ")";
  }
  out += ", predicted=[";
  for (std::size_t i = 0; i < r.predicted.size() && i < 3; ++i)
    out += (i ? ", (" : "(") + quoted(r.predicted[i].category) + ", " + number(r.predicted[i].probability) + ")";
  if (r.predicted.size() > 3) out += ", ...";
  return out + "], searched=" + quoted_list(r.searched) + ", no_match=" + truth(r.no_match) +
         ", localization=" + truth(r.localization.has_value()) + ", total_ms=" + number(r.timings.total_ms) + ")";
}

std::string fine_tuning_repr(const FineTuningOptions& o) {
  return "FineTuningOptions(enabled=" + truth(o.enabled) + ", first_stage=" + std::to_string(o.first_stage) + ", epochs=" +
         std::to_string(o.epochs) + ", views=" + std::to_string(o.views) + ", batch_size=" + std::to_string(o.batch_size) +
         ", backbone_learning_rate=" + number(o.backbone_learning_rate) + ", classifier_learning_rate=" + number(o.classifier_learning_rate) +
         ", label_smoothing=" + number(o.label_smoothing) + ", calibration_fraction=" + number(o.calibration_fraction) +
         ", seed=" + std::to_string(o.seed) + ")";
}

std::string config_repr(const PipelineConfig& c) {
  return "PipelineConfig(backbone_manifest=" + quoted(c.backbone_manifest) + ", segmenter_manifest=" + quoted(c.segmenter_manifest) +
         ", localize=" + truth(c.localize) + ", device=" + quoted(c.runtime.device) + ", threads=" + std::to_string(c.runtime.threads) +
         ", k=" + std::to_string(c.k) + ", batch_size=" + std::to_string(c.batch_size) + ", category_mode=" + quoted(to_string(c.category_mode)) +
         ", rerank=" + quoted(to_string(c.rerank)) + ", adapt_embedding=" + truth(c.adapt_embedding) +
         ", one_result_per_label=" + truth(c.one_result_per_label) + ", match_threshold=" + number(c.match_threshold) +
         ", match_distance=" + number(c.match_distance) + ", fine_tuning.enabled=" + truth(c.fine_tuning.enabled) + ")";
}

}  // namespace

namespace {

// domainsearch.Error carries the Status name as .status; each Status has its subclass, named after it
// (ConflictError, NotFoundError, ...: status_name() + "Error"), with the name as a class attribute
// .status too. InvalidArgumentError is also a ValueError. Made by bind_errors, by Status value; null:
// none (Ok), Error is raised.
constexpr int kStatusSlots = 64;
PyObject* status_errors[kStatusSlots] = {};

void bind_errors(py::module_& m) {
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  error.doc() = "A libdomainsearch failure: the library's message, and .status, the Status name (\"Conflict\", \"NotFound\", ...).\n"
                "Raised as the subclass named after the status (ConflictError, NotFoundError, ...).";
  const std::string module = m.attr("__name__").cast<std::string>();
  for (int s = 1; s < kStatusSlots; ++s) {
    const Status status = static_cast<Status>(s);
    const std::string name = status_name(status);
    if (name == "Unknown") break;  // past the last Status
    const bool value_error = status == Status::InvalidArgument;
    const py::object bases = value_error ? py::object(py::make_tuple(error, py::handle(PyExc_ValueError))) : py::object(error);
    const py::dict attributes("status"_a = name);
    const std::string doc = "domainsearch.Error for Status::" + name + " (include/domainsearch/error.hpp)" + (value_error ? "; also a ValueError." : ".");
    PyObject* type = PyErr_NewExceptionWithDoc((module + "." + name + "Error").c_str(), doc.c_str(), bases.ptr(), attributes.ptr());
    if (type == nullptr) throw py::error_already_set();
    status_errors[s] = type;  // this reference lives as long as the process, as Error's does
    m.add_object((name + "Error").c_str(), type);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      const int s = static_cast<int>(e.status());
      PyObject* type = s > 0 && s < kStatusSlots && status_errors[s] != nullptr ? status_errors[s] : error.ptr();
      const char* what = e.what();
      const py::object message =
          py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(what, static_cast<py::ssize_t>(std::strlen(what)), "backslashreplace"));
      if (!message) return;  // the decoder's Python error (out of memory) is raised instead
      const py::object instance = py::reinterpret_steal<py::object>(PyObject_CallFunctionObjArgs(type, message.ptr(), static_cast<PyObject*>(nullptr)));
      if (!instance) return;
      instance.attr("status") = status_name(e.status());
      PyErr_SetObject(type, instance.ptr());
    }
  });
}

// The configuration's parts (FineTuningOptions, ConfidenceModel): picklable, field by field.
void bind_config_parts(py::module_& m) {
  py::class_<FineTuningOptions>(m, "FineTuningOptions", "How the backbone is fine-tuned; see include/domainsearch/fine_tuning.hpp.")
      .def(py::init<>())
      .def_readwrite("enabled", &FineTuningOptions::enabled)
      .def_readwrite("first_stage", &FineTuningOptions::first_stage)
      .def_readwrite("epochs", &FineTuningOptions::epochs)
      .def_readwrite("views", &FineTuningOptions::views)
      .def_readwrite("batch_size", &FineTuningOptions::batch_size)
      .def_readwrite("backbone_learning_rate", &FineTuningOptions::backbone_learning_rate)
      .def_readwrite("classifier_learning_rate", &FineTuningOptions::classifier_learning_rate)
      .def_readwrite("label_smoothing", &FineTuningOptions::label_smoothing)
      .def_readwrite("metric_loss_weight", &FineTuningOptions::metric_loss_weight)
      .def_readwrite("metric_temperature", &FineTuningOptions::metric_temperature)
      .def_readwrite("rows_per_item", &FineTuningOptions::rows_per_item)
      .def_readwrite("calibration_fraction", &FineTuningOptions::calibration_fraction)
      .def_readwrite("seed", &FineTuningOptions::seed)
      .def("__repr__", &fine_tuning_repr)
      .def(py::pickle(&state_of<FineTuningOptions>,
                      [](const py::dict& state) { return from_state<FineTuningOptions>(state, "FineTuningOptions"); }));

  py::class_<ConfidenceModel>(m, "ConfidenceModel", "The calibrated confidence of an answer: sigmoid(bias + probability * logit(p) + distance * d + margin * m)\n"
                                               "(include/domainsearch/pipeline_config.hpp); fitted by `domainsearch eval --holdout-items`.")
      .def(py::init([](float bias, float probability, float distance, float margin) { return ConfidenceModel{bias, probability, distance, margin}; }),
           py::arg("bias") = 0.0f, py::arg("probability") = 0.0f, py::arg("distance") = 0.0f, py::arg("margin") = 0.0f)
      .def_readwrite("bias", &ConfidenceModel::bias)
      .def_readwrite("probability", &ConfidenceModel::probability)
      .def_readwrite("distance", &ConfidenceModel::distance)
      .def_readwrite("margin", &ConfidenceModel::margin)
      .def_property_readonly("empty", &ConfidenceModel::empty)
      .def("__repr__", [](const ConfidenceModel& c) {
        return "ConfidenceModel(bias=" + number(c.bias) + ", probability=" + number(c.probability) + ", distance=" + number(c.distance) +
               ", margin=" + number(c.margin) + ")";
      })
      .def(py::pickle([](const ConfidenceModel& c) { return py::make_tuple(c.bias, c.probability, c.distance, c.margin); },
                      [](const py::tuple& t) {
                        if (t.size() != 4) throw Error(Status::InvalidArgument, "ConfidenceModel: malformed pickled state");
                        return ConfidenceModel{t[0].cast<float>(), t[1].cast<float>(), t[2].cast<float>(), t[3].cast<float>()};
                      }));
  py::class_<NoMatchRules>(m, "NoMatchRules", "The \"not in the catalogue\" rules of a query (0 turns a rule off); PipelineConfig.object_rules\n"
                                              "holds those of an object query's products.")
      .def(py::init([](float match_threshold, float match_distance, float min_confidence) { return NoMatchRules{match_threshold, match_distance, min_confidence}; }),
           py::arg("match_threshold") = 0.0f, py::arg("match_distance") = 0.0f, py::arg("min_confidence") = 0.0f)
      .def_readwrite("match_threshold", &NoMatchRules::match_threshold)
      .def_readwrite("match_distance", &NoMatchRules::match_distance)
      .def_readwrite("min_confidence", &NoMatchRules::min_confidence)
      .def("__repr__", [](const NoMatchRules& r) {
        return "NoMatchRules(match_threshold=" + number(r.match_threshold) + ", match_distance=" + number(r.match_distance) +
               ", min_confidence=" + number(r.min_confidence) + ")";
      })
      .def(py::pickle([](const NoMatchRules& r) { return py::make_tuple(r.match_threshold, r.match_distance, r.min_confidence); },
                      [](const py::tuple& t) {
                        if (t.size() != 3) throw Error(Status::InvalidArgument, "NoMatchRules: malformed pickled state");
                        return NoMatchRules{t[0].cast<float>(), t[1].cast<float>(), t[2].cast<float>()};
                      }));

}

// PipelineConfig itself (its parts are bound by bind_config_parts).
void bind_config(py::module_& m) {
  bind_config_parts(m);
  py::class_<PipelineConfig>(m, "PipelineConfig",
                             "Every knob of a Pipeline; see include/domainsearch/pipeline.hpp. Picklable (every field, those without\n"
                             "a Python attribute too, e.g. the decode limits a JSON file sets).")
      .def(py::init<>())
      .def_static("load", &PipelineConfig::load, py::arg("path"), "Reads a JSON configuration file.")
      .def_readwrite("backbone_manifest", &PipelineConfig::backbone_manifest)
      .def_readwrite("segmenter_manifest", &PipelineConfig::segmenter_manifest)
      .def_readwrite("object_finder_manifest", &PipelineConfig::object_finder_manifest)
      .def_readwrite("localize", &PipelineConfig::localize)
      .def_readwrite("k", &PipelineConfig::k)
      .def_readwrite("batch_size", &PipelineConfig::batch_size)
      .def_readwrite("training_views", &PipelineConfig::training_views)
      .def_readwrite("fine_tuning", &PipelineConfig::fine_tuning)
      .def_readwrite("adapt_embedding", &PipelineConfig::adapt_embedding)
      .def_readwrite("one_result_per_label", &PipelineConfig::one_result_per_label)
      .def_readwrite("soft_threshold", &PipelineConfig::soft_threshold)
      .def_readwrite("iou_weight", &PipelineConfig::iou_weight)
      .def_readwrite("rerank_depth", &PipelineConfig::rerank_depth)
      .def_readwrite("match_threshold", &PipelineConfig::match_threshold, "no match when the first result's match probability is below (0: off)")
      .def_readwrite("match_distance", &PipelineConfig::match_distance, "no match when the nearest result's distance is above (0: off)")
      .def_readwrite("confidence", &PipelineConfig::confidence, "the ConfidenceModel of QueryResponse.confidence (all zero: none)")
      .def_readwrite("min_confidence", &PipelineConfig::min_confidence, "no match when the confidence is below (0: off; needs a confidence model)")
      .def_readwrite("object_rules", &PipelineConfig::object_rules, "the NoMatchRules of an object query's products (the JSON's \"objects\" section); None: the photo rules")
      .def_property("device", [](const PipelineConfig& c) { return c.runtime.device; },
                    [](PipelineConfig& c, const std::string& d) { c.runtime.device = d; })
      .def_property("threads", [](const PipelineConfig& c) { return c.runtime.threads; },
                    [](PipelineConfig& c, int t) { c.runtime.threads = t; })
      .def_property("grayscale", [](const PipelineConfig& c) { return c.features.grayscale; },
                    [](PipelineConfig& c, bool g) { c.features.grayscale = g; })
      .def_property("category_mode", [](const PipelineConfig& c) { return to_string(c.category_mode); },
                    [](PipelineConfig& c, const std::string& v) { c.category_mode = category_mode_from_string(v); },
                    "'off', 'given', 'predicted_hard' or 'predicted_soft'")
      .def_property("rerank", [](const PipelineConfig& c) { return to_string(c.rerank); },
                    [](PipelineConfig& c, const std::string& v) { c.rerank = rerank_mode_from_string(v); }, "'off', 'iou' or 'fused'")
      .def("__repr__", &config_repr)
      .def(py::pickle(&config_state, [](const py::dict& state) { return from_state<PipelineConfig>(state, "PipelineConfig"); }));
}

// ImageAnalysis, QueryResult, Localization, QueryResponse (picklable where Dask moves them).
void bind_results(py::module_& m) {
  py::class_<ImageAnalysis>(m, "ImageAnalysis",
                            "What the models compute for one image (embedding, and the object's mask with localisation); picklable.")
      .def_property_readonly("embedding", [](const ImageAnalysis& a) {
        return py::array_t<float>(static_cast<py::ssize_t>(a.embedding.size()), a.embedding.data());
      })
      .def_property_readonly("has_contour", [](const ImageAnalysis& a) { return a.contour.has_value(); })
      .def("__repr__", [](const ImageAnalysis& a) {
        return "ImageAnalysis(dimension=" + std::to_string(a.embedding.size()) + ", has_contour=" + truth(a.contour.has_value()) + ")";
      })
      .def(py::pickle(&analysis_state, &analysis_from_state));

  py::class_<QueryResult>(m, "QueryResult",
                          "One answer of a query: an item (the default) shown by its nearest photo (key, distance, iou and source\n"
                          "are that photo's), or one photo (items=False); picklable.")
      .def_readonly("key", &QueryResult::key)
      .def_readonly("label", &QueryResult::label)
      .def_readonly("category", &QueryResult::category)
      .def_readonly("source", &QueryResult::source)
      .def_readonly("distance", &QueryResult::distance)
      .def_readonly("iou", &QueryResult::iou)
      .def_readonly("score", &QueryResult::score)
      .def_readonly("match_probability", &QueryResult::match_probability, "calibrated (fine-tuned catalogues), else -1")
      .def_property_readonly("photos", &photo_list,
                             "an item's photos the search reached, [(key, distance)] nearest first (the first is key); [] for a photo")
      .def(py::pickle(&result_state, &result_from_state))
      .def("__repr__", &result_repr);

  py::class_<Localization>(m, "Localization", "Where the object is in the query image (its mask, box and cutout).")
      .def_property_readonly("mask", [](const Localization& l) {
        py::array_t<std::uint8_t> out({l.height, l.width});
        std::memcpy(out.mutable_data(), l.mask.data(), l.mask.size());
        return out;
      }, "HxW uint8 mask (0 or 255)")
      .def_property_readonly("box", [](const Localization& l) { return py::make_tuple(l.box.x, l.box.y, l.box.width, l.box.height); })
      .def_property_readonly("cutout", [](const Localization& l) { return image_to_array(l.cutout); }, "the object on white, RGB")
      .def_readonly("confidence", &Localization::confidence)
      .def_readonly("fallback", &Localization::fallback)
      .def("__repr__", [](const Localization& l) {
        return "Localization(size=" + std::to_string(l.width) + "x" + std::to_string(l.height) + ", box=(" + std::to_string(l.box.x) + ", " +
               std::to_string(l.box.y) + ", " + std::to_string(l.box.width) + ", " + std::to_string(l.box.height) +
               "), confidence=" + number(l.confidence) + ", fallback=" + truth(l.fallback) + ")";
      });

  py::class_<QueryResponse>(m, "QueryResponse", "A query's answer; picklable (without its localization, which stays where it was made).")
      .def_readonly("results", &QueryResponse::results)
      .def_property_readonly("predicted", [](const QueryResponse& r) {
        py::list out;
        for (const auto& p : r.predicted) out.append(py::make_tuple(p.category, p.probability));
        return out;
      }, "[(category, probability)], most probable first")
      .def_readonly("searched", &QueryResponse::searched)
      .def_readonly("no_match", &QueryResponse::no_match, "the nearest result is farther than config match_distance, or the first one's match "
                                                          "probability is below match_threshold, or the confidence below min_confidence")
      .def_readonly("confidence", &QueryResponse::confidence, "probability that the first result's item is right (config confidence model), "
                                                              "0 when nothing was found; -1 without a model, for a photo answer, "
                                                              "or when the model weighs the match probability of a catalogue that is not fine-tuned")
      .def_readonly("localization", &QueryResponse::localization)
      .def_property_readonly("timings", [](const QueryResponse& r) {
        const StageTimings& t = r.timings;
        return py::dict("decode"_a = t.decode_ms, "localize"_a = t.localize_ms, "embed"_a = t.embed_ms,
                        "categorize"_a = t.categorize_ms, "search"_a = t.search_ms, "rerank"_a = t.rerank_ms, "total"_a = t.total_ms);
      }, "milliseconds per stage")
      .def("__repr__", &response_repr)
      .def(py::pickle(&response_state, &response_from_state));

}

// The answers of an object query (Pipeline.query_objects).
void bind_object_results(py::module_& m) {
  py::class_<FoundObject>(m, "FoundObject", "One product found in a photo: its box and its own answer; picklable.")
      .def_property_readonly("box", [](const FoundObject& o) { return py::make_tuple(o.box.x, o.box.y, o.box.width, o.box.height); },
                             "(x, y, width, height) in the photo's pixels")
      .def_readonly("answer", &FoundObject::answer, "its QueryResponse: items, confidence, no_match")
      .def("__repr__", [](const FoundObject& o) {
        const QueryResponse& a = o.answer;
        return "FoundObject(box=(" + std::to_string(o.box.x) + ", " + std::to_string(o.box.y) + ", " + std::to_string(o.box.width) + ", " +
               std::to_string(o.box.height) + "), item=" + py::repr(py::str(a.results.empty() ? "" : a.results.front().label)).cast<std::string>() +
               ", no_match=" + truth(a.no_match) + ", confidence=" + number(a.confidence) + ")";
      })
      .def(py::pickle(&object_state, &object_from_state));
  py::class_<ObjectsResponse>(m, "ObjectsResponse", "Every product found in a photo (Pipeline.query_objects); picklable.")
      .def_readonly("width", &ObjectsResponse::width)
      .def_readonly("height", &ObjectsResponse::height)
      .def_readonly("objects", &ObjectsResponse::objects, "FoundObject list in reading order (rows top to bottom, each left to right)")
      .def_property_readonly("items", [](const ObjectsResponse& r) {
        py::list out;
        for (const ItemCount& c : r.items) out.append(py::make_tuple(c.label, c.category, c.count));
        return out;
      }, "[(label, category, count)] of the products answered with a match, most frequent first")
      .def_readonly("unmatched", &ObjectsResponse::unmatched, "products answered \"not in the catalogue\" (no_match), or with no result at all")
      .def_property_readonly("timings", [](const ObjectsResponse& r) {
        const ObjectTimings& t = r.timings;
        return py::dict("decode"_a = t.decode_ms, "find"_a = t.find_ms, "crop"_a = t.crop_ms, "embed"_a = t.embed_ms,
                        "search"_a = t.search_ms, "total"_a = t.total_ms);
      }, "milliseconds per stage")
      .def("__repr__", [](const ObjectsResponse& r) {
        return "ObjectsResponse(objects=" + std::to_string(r.objects.size()) + ", items=" + std::to_string(r.items.size()) +
               ", unmatched=" + std::to_string(r.unmatched) + ")";
      })
      .def(py::pickle(&objects_state, &objects_from_state));
}

// The Python Pipeline: a C++ Pipeline that close() (or the end of a `with` block) releases. Each call
// takes its own reference first, so a close() while another thread's call runs (queries release the
// GIL) frees the models and the catalogue only when that call ends; later calls raise
// InvalidArgumentError (a ValueError, as Python's own closed files do).
class PyPipeline {
 public:
  explicit PyPipeline(std::shared_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}

  std::shared_ptr<Pipeline> get() const {
    std::shared_ptr<Pipeline> p = peek();
    if (!p) throw Error(Status::InvalidArgument, "this Pipeline is closed (close() or the end of its with block released it); open the catalogue again");
    return p;
  }
  std::shared_ptr<Pipeline> peek() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return pipeline_;
  }
  void close() {
    std::shared_ptr<Pipeline> released;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      released.swap(pipeline_);
    }
  }  // freed here, outside the lock, unless a running call still holds it

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<Pipeline> pipeline_;
};

template <typename F, typename R, typename Self, typename... A>
auto on_pipeline_impl(F f, R (F::*)(Self, A...) const) {
  return [f = std::move(f)](const PyPipeline& handle, A... args) -> R {
    const std::shared_ptr<Pipeline> p = handle.get();
    return f(*p, std::forward<A>(args)...);
  };
}

// A method of the Python Pipeline from a function of the C++ one, f(Pipeline&, args...): it raises once
// the pipeline is closed and keeps it alive while f runs.
template <typename F>
auto on_pipeline(F f) {
  return on_pipeline_impl(std::move(f), &F::operator());
}

constexpr const char* kAddDoc =
    "Adds one image (path, bytes or numpy uint8 array) as a new item under `key`, in `category` (registered when new),\n"
    "with `label`; AlreadyExistsError when the catalogue holds the key already (upsert replaces). Returns True when\n"
    "the category is one the trained category model cannot predict (added since training): queries search that\n"
    "category too until you train again.";
constexpr const char* kUpsertDoc =
    "Adds one image (path, bytes or numpy uint8 array) under `key`, or replaces the item the catalogue holds under\n"
    "it (its embedding, mask, category and label). Returns True when the category is one the trained category model\n"
    "cannot predict (added since training): queries search that category too until you train again.";

// Pipeline: construction, closing, persistence, indexing, adding and removing.
void bind_pipeline_catalogue(py::class_<PyPipeline>& cls) {
  cls.def(py::init([](const PipelineConfig& c) {
             std::shared_ptr<Pipeline> p;
             {
               py::gil_scoped_release release;
               p = std::make_shared<Pipeline>(c);
             }
             return std::make_unique<PyPipeline>(std::move(p));
           }), py::arg("config"), "Loads the models; the catalogue starts empty.")
      .def_static("open", [](const std::string& path, const PipelineConfig& c) {
        std::shared_ptr<Pipeline> p;
        {
          py::gil_scoped_release release;
          p = std::make_shared<Pipeline>(Pipeline::open(path, c));
        }
        return std::make_unique<PyPipeline>(std::move(p));
      }, py::arg("path"), py::arg("config"), "Opens a saved catalogue with these models (fingerprints must match).")
      .def("close", &PyPipeline::close, py::call_guard<py::gil_scoped_release>(),
           "Releases the catalogue and the models (a call still running on them keeps them until it ends); every later\n"
           "call raises InvalidArgumentError. Nothing is saved. Closing twice is harmless.")
      .def_property_readonly("closed", [](const PyPipeline& h) { return !h.peek(); })
      .def("__enter__", [](const py::object& self) {
        self.cast<const PyPipeline&>().get();  // a closed pipeline cannot be entered
        return self;
      })
      .def("__exit__", [](PyPipeline& h, const py::args&) { h.close(); }, "Closes the pipeline (exceptions propagate).")
      .def("__repr__", [](const PyPipeline& h) {
        const std::shared_ptr<Pipeline> p = h.peek();
        if (!p) return std::string("Pipeline(closed)");
        return "Pipeline(items=" + std::to_string(p->index().size()) + ", dimension=" + std::to_string(p->index().dimension()) +
               ", categories=" + std::to_string(p->index().category_count()) + ", category_head=" + truth(p->has_category_head()) +
               ", fine_tuned=" + truth(p->is_fine_tuned()) + ")";
      })
      .def("save", on_pipeline([](Pipeline& p, const std::string& path) {
        py::gil_scoped_release release;
        p.save(path);
      }), py::arg("path"),
         "Writes the catalogue atomically. Over the file it was opened from or last saved to, raises ConflictError\n"
         "when another writer, in any process, replaced that file meanwhile: nothing is written; reopen and apply the\n"
         "change again. A path that is not a regular file (device, FIFO, socket) is refused (IoError).")
      .def("__len__", on_pipeline([](const Pipeline& p) { return p.index().size(); }))
      .def_property_readonly("categories", on_pipeline([](const Pipeline& p) { return p.index().category_names(); }))
      .def_property_readonly("has_category_head", on_pipeline([](const Pipeline& p) { return p.has_category_head(); }))
      .def_property_readonly("has_embedding_adaptation", on_pipeline([](const Pipeline& p) { return p.has_embedding_adaptation(); }))
      .def("index_csv", on_pipeline([](Pipeline& p, const std::string& csv, const py::object& progress) {
        return run_indexing(progress, [&](const ProgressFn& fn) { return p.index_csv(csv, fn); });
      }), py::arg("csv_path"), py::arg("progress") = py::none(),
         "Indexes a CSV (path,label,category). progress(done, total) may return False to stop; Ctrl-C stops too.")
      .def("index_entries", on_pipeline([](Pipeline& p, const py::list& rows, const py::object& progress) {
        const std::vector<CatalogueEntry> entries = entries_of(rows);
        return run_indexing(progress, [&](const ProgressFn& fn) { return p.index_entries(entries, fn); });
      }), py::arg("rows"), py::arg("progress") = py::none(),
         "Indexes rows (path, label, category[, key]); the report's \"failures\" lists (path, reason) of rows not indexed.")
      .def("index_folder", on_pipeline([](Pipeline& p, const std::string& folder, const py::object& progress) {
        return run_indexing(progress, [&](const ProgressFn& fn) { return p.index_folder(folder, fn); });
      }), py::arg("folder"), py::arg("progress") = py::none(), "Indexes a folder with one sub-folder per category.")
      .def("add", on_pipeline([](Pipeline& p, std::uint64_t key, const py::object& image, const std::string& category, const std::string& label) {
        const Image im = to_image(image, p);
        py::gil_scoped_release release;
        return p.add(key, im, category, label).untrained_category;
      }), py::arg("key"), py::arg("image"), py::arg("category"), py::arg("label") = "", kAddDoc)
      .def("upsert", on_pipeline([](Pipeline& p, std::uint64_t key, const py::object& image, const std::string& category, const std::string& label) {
        const Image im = to_image(image, p);
        py::gil_scoped_release release;
        return p.upsert(key, im, category, label).untrained_category;
      }), py::arg("key"), py::arg("image"), py::arg("category"), py::arg("label") = "", kUpsertDoc)
      .def_property_readonly("untrained_categories", on_pipeline([](const Pipeline& p) { return p.untrained_categories(); }))
      .def("remove", on_pipeline([](Pipeline& p, std::uint64_t key) { p.remove(key); }), py::arg("key"),
           py::call_guard<py::gil_scoped_release>(), "Removes the item under `key` (NotFoundError when there is none).");
}

// Pipeline: the category model and fine-tuning.
void bind_pipeline_training(py::class_<PyPipeline>& cls) {
  cls.def("train_categories", on_pipeline([](Pipeline& p, const py::object& progress) {
        const TrainingProgressFn fn = python_training_progress(progress);
        TrainingReport t;
        {
          py::gil_scoped_release release;
          t = p.train_categories(fn);
        }
        return py::dict("samples"_a = t.samples, "epochs"_a = t.epochs, "best_epoch"_a = t.best_epoch,
                        "validation_accuracy"_a = t.best_validation_accuracy, "seconds"_a = t.seconds, "dropped"_a = t.dropped);
      }), py::arg("progress") = py::none(), "Trains what config says (fine-tuning when config.fine_tuning.enabled); see fine_tune for progress.")
      .def("fine_tune", on_pipeline([](Pipeline& p, const std::vector<std::tuple<std::string, std::string, std::string>>& photos,
                                       const py::object& progress) {
        std::vector<CatalogueEntry> entries;
        for (const auto& [path, label, category] : photos) entries.push_back({path, label, category, std::nullopt});
        const TrainingProgressFn fn = python_training_progress(progress);
        FineTuningReport r;
        {
          py::gil_scoped_release release;
          r = p.fine_tune(entries, fn);
        }
        return fine_tuning_dict(r);
      }), py::arg("photos") = std::vector<std::tuple<std::string, std::string, std::string>>{}, py::arg("progress") = py::none(),
         "Fine-tunes the backbone on (path, label, category) photos, or on the catalogue's own when empty, and re-embeds the\n"
         "catalogue. progress(dict(stage, epoch, epochs, done, total, loss, eta_seconds)) may return False to cancel (the\n"
         "catalogue is then unchanged); Ctrl-C raises KeyboardInterrupt, also leaving it unchanged.")
      .def_property_readonly("is_fine_tuned", on_pipeline([](const Pipeline& p) { return p.is_fine_tuned(); }));
}

// Pipeline: queries and what an item holds.
void bind_pipeline_queries(py::class_<PyPipeline>& cls) {
  cls.def("query", on_pipeline([](const Pipeline& p, const py::object& image, std::optional<std::size_t> k, const std::string& category,
                                   std::optional<bool> items) {
        const Image im = to_image(image, p);
        py::gil_scoped_release release;
        return p.query(im, query_options(k, category, items));
      }), py::arg("image"), py::arg("k") = py::none(), py::arg("category") = "", py::arg("items") = py::none(),
         "Catalogue items most like `image` (path, bytes or numpy RGB array): k distinct labels, each shown by its nearest\n"
         "photo with the photos the search reached in QueryResult.photos. items=False lists photos instead (a label may\n"
         "repeat); None: the configuration's one_result_per_label (True unless set otherwise).")
      .def("query_key", on_pipeline([](const Pipeline& p, std::uint64_t key, std::optional<std::size_t> k, const std::string& category,
                                       std::optional<bool> items) {
        py::gil_scoped_release release;
        return p.query_key(key, query_options(k, category, items));
      }), py::arg("key"), py::arg("k") = py::none(), py::arg("category") = "", py::arg("items") = py::none(),
         "More like this indexed item (itself excluded); items as for query().")
      .def("query_batch", on_pipeline([](const Pipeline& p, const py::list& images, std::optional<std::size_t> k, const std::string& category,
                                         std::optional<bool> items) {
        std::vector<Image> ims;
        for (const auto& im : images) ims.push_back(to_image(py::reinterpret_borrow<py::object>(im), p));
        py::gil_scoped_release release;
        return p.query_batch(ims, query_options(k, category, items));
      }), py::arg("images"), py::arg("k") = py::none(), py::arg("category") = "", py::arg("items") = py::none(),
         "query() for each image, one QueryResponse each.")
      .def("query_objects", on_pipeline([](const Pipeline& p, const py::object& image, std::optional<std::size_t> k, const std::string& category,
                                           std::optional<bool> items, const std::string& crop) {
        ObjectQueryOptions o;
        o.query = query_options(k, category, items);
        o.crop = object_crop_from_string(crop);
        if (py::isinstance<py::str>(image)) {  // decoded by the query: its timings count the decoding
          const std::string path = image.cast<std::string>();
          py::gil_scoped_release release;
          return p.query_objects_file(path, o);
        }
        const Image im = to_image(image, p);
        py::gil_scoped_release release;
        return p.query_objects(im, o);
      }), py::arg("image"), py::arg("k") = py::none(), py::arg("category") = "", py::arg("items") = py::none(), py::arg("crop") = "cutout",
         "Every product in `image` (a shelf, a tray): each with its box and its own answer (as query() gives one), and the\n"
         "photo's items with their counts. Needs an object finder or a segmenter in the configuration. crop: \"cutout\" (a product's mask on\n"
         "white, like a studio catalogue image) or \"box\" (its box with the background).")
      .def("embedding", on_pipeline([](const Pipeline& p, std::uint64_t key) {
        const IndexItem item = p.index().get(key);
        return py::array_t<float>(static_cast<py::ssize_t>(item.embedding.size()), item.embedding.data());
      }), py::arg("key"), "The stored embedding of an item (numpy float32).")
      .def("item", on_pipeline([](const Pipeline& p, std::uint64_t key) {
        const IndexItem item = p.index().get(key);
        return py::dict("label"_a = item.label, "category"_a = p.index().category_name(item.category),
                        "embedding"_a = py::array_t<float>(static_cast<py::ssize_t>(item.embedding.size()), item.embedding.data()));
      }), py::arg("key"), "An item's label, category and stored embedding.")
      .def_property_readonly("keys", on_pipeline([](const Pipeline& p) { return p.index().keys(); }), "Every item's key.")
      .def_property_readonly("index_memory_bytes", on_pipeline([](const Pipeline& p) { return p.index().memory_usage(); }),
                             "Bytes the catalogue's index holds in memory (embeddings, keys, labels, masks).");
}

// Pipeline: analyses and catalogues built in parts (shards).
void bind_pipeline_parts(py::class_<PyPipeline>& cls) {
  cls.def("analyze", on_pipeline([](const Pipeline& p, const py::object& image) {
        const Image im = to_image(image, p);
        py::gil_scoped_release release;
        return p.analyze({im}).front();
      }), py::arg("image"), "Runs the models on one image; nothing is stored. The ImageAnalysis can be searched in any\n"
                           "catalogue of the same model fingerprint (query_analyzed) or stored (add_analyzed).")
      .def("analyze_entries", on_pipeline([](const Pipeline& p, const py::list& rows) {
        const std::vector<CatalogueEntry> entries = entries_of(rows);
        std::vector<EntryAnalysis> analysed;
        {
          py::gil_scoped_release release;
          analysed = p.analyze_entries(entries);
        }
        py::list out;
        for (EntryAnalysis& e : analysed) out.append(py::make_tuple(e.analysis ? py::cast(std::move(*e.analysis)) : py::none(), e.error));
        return out;
      }), py::arg("rows"), "Decodes and analyses rows (path, label, category[, key]) as indexing does, storing nothing:\n"
                          "[(ImageAnalysis or None, error)], one per row, without the full-size localisation.")
      .def("add_analyzed", on_pipeline([](Pipeline& p, std::uint64_t key, const ImageAnalysis& a, const std::string& category,
                                          const std::string& label, const std::string& source) {
             return p.add_analyzed(key, a, category, label, source).untrained_category;
           }), py::arg("key"), py::arg("analysis"), py::arg("category"), py::arg("label") = "", py::arg("source") = "",
           py::call_guard<py::gil_scoped_release>(), "Stores an analysis as a new item, as add() stores an image; returns add()'s flag.")
      .def("query_analyzed", on_pipeline([](const Pipeline& p, const ImageAnalysis& a, std::optional<std::size_t> k, const std::string& category,
                                            bool as_shard, std::optional<bool> items) {
        const QueryOptions o = query_options(k, category, items);
        return p.query_analyzed(a, as_shard ? shard_query_options(o, p.config()) : o);
      }), py::arg("analysis"), py::arg("k") = py::none(), py::arg("category") = "", py::arg("as_shard") = false,
         py::arg("items") = py::none(), py::call_guard<py::gil_scoped_release>(),
         "Searches for an analysis; items as for query(). as_shard=True answers as one shard of a sharded catalogue\n"
         "(shard_query_options), for merge_shard_responses with the same k, category and items.")
      .def("add_categories", on_pipeline([](Pipeline& p, const std::vector<std::string>& names) { p.add_categories(names); }), py::arg("names"),
           py::call_guard<py::gil_scoped_release>(), "Registers categories in this order without items, so catalogues built in parts number them alike.")
      .def("install_category_model", on_pipeline([](Pipeline& p, const PyPipeline& trained) {
             const std::shared_ptr<Pipeline> t = trained.get();
             p.install_category_model(*t);
           }), py::arg("trained"), py::call_guard<py::gil_scoped_release>(),
           "Takes the category head and adaptation of `trained` (same network and category table).")
      .def_property_readonly("model_fingerprint", on_pipeline([](const Pipeline& p) { return p.model_fingerprint(); }))
      .def_static("inspect", [](const std::string& path) {
        const CatalogueInfo i = Pipeline::inspect(path);
        py::dict categories;
        for (const auto& [name, count] : i.categories) categories[py::str(name)] = count;
        return py::dict("items"_a = i.items, "dimension"_a = i.dimension, "categories"_a = categories, "has_category_head"_a = i.has_category_head,
                        "fine_tuned"_a = i.has_fine_tuned_backbone, "model_fingerprint"_a = i.model_fingerprint, "file_bytes"_a = i.file_bytes);
      }, py::arg("path"), "What a catalogue file holds, without loading models.")
      .def_static("key_for_path", &Pipeline::key_for_path, py::arg("path"), "The key index_csv/index_folder give the image at `path`.");
}

// The Pipeline class.
void bind_pipeline(py::module_& m) {
  py::class_<PyPipeline> cls(m, "Pipeline",
                             "Index a catalogue of product images and query it (thread-safe queries). A context manager:\n"
                             "`with Pipeline.open(path, config) as p:` closes it (releases the models) at the end of the block.");
  bind_pipeline_catalogue(cls);
  bind_pipeline_training(cls);
  bind_pipeline_queries(cls);
  bind_pipeline_parts(cls);
}

// Sharded catalogues (include/domainsearch/shards.hpp) and the process settings for inference workers.
void bind_shards(py::module_& m) {
  m.def("tune_process_for_inference", &domainsearch::process::tune_process_for_inference,
        "Process-wide settings for a process that runs the models (src/process/inference_process.hpp): keep LibTorch's\n"
        "activation buffers (glibc malloc thresholds) and one OpenBLAS thread. Changes the whole process; `import\n"
        "domainsearch` calls it unless DOMAINSEARCH_NO_PROCESS_TUNING is set (domainsearch.process_tuned).");
  m.def("shard_of_key", &shard_of_key, py::arg("key"), py::arg("shards"), "The shard that owns key (key mod shards).");
  m.def("merge_shard_responses", [](const std::vector<QueryResponse>& responses, const PipelineConfig& config, std::optional<std::size_t> k,
                                    const std::string& category, std::optional<bool> items) {
          return merge_shard_responses(responses, query_options(k, category, items), config);
        },
        py::arg("responses"), py::arg("config"), py::arg("k") = py::none(), py::arg("category") = "", py::arg("items") = py::none(),
        "One catalogue's answer from its shards' answers to query_analyzed(..., as_shard=True), one per non-empty shard,\n"
        "asked with the same k, category and items (items: an item's photos from every shard, nearest first).");
  m.def("train_category_model_on_shards", [](const PyPipeline& trained, const std::vector<std::string>& shard_paths) {
    const std::shared_ptr<Pipeline> p = trained.get();
    TrainingReport t;
    {
      py::gil_scoped_release release;
      t = train_category_model_on_shards(*p, shard_paths);
    }
    return py::dict("samples"_a = t.samples, "epochs"_a = t.epochs, "validation_accuracy"_a = t.best_validation_accuracy, "seconds"_a = t.seconds);
  }, py::arg("trained"), py::arg("shard_paths"),
        "Trains the template's category head on every shard's stored embeddings (once, for the whole catalogue).");
  py::class_<ShardSetManifest>(m, "ShardSetManifest", "shards.json of a shard set folder (include/domainsearch/shards.hpp); picklable.")
      .def(py::init<>())
      .def_readwrite("shards", &ShardSetManifest::shards)
      .def_readwrite("template_file", &ShardSetManifest::template_file)
      .def_readwrite("model_fingerprint", &ShardSetManifest::model_fingerprint)
      .def_static("shard_file_name", &ShardSetManifest::shard_file_name, py::arg("i"), py::arg("n"))
      .def_static("load", &ShardSetManifest::load, py::arg("folder"))
      .def("save", &ShardSetManifest::save, py::arg("folder"))
      .def("shard_paths", &ShardSetManifest::shard_paths, py::arg("folder"))
      .def("__repr__", [](const ShardSetManifest& s) {
        return "ShardSetManifest(shards=" + std::to_string(s.shards.size()) + ", template_file=" + quoted(s.template_file) +
               ", model_fingerprint=" + quoted(s.model_fingerprint) + ")";
      })
      .def(py::pickle([](const ShardSetManifest& s) { return py::make_tuple(s.shards, s.template_file, s.model_fingerprint); },
                      [](const py::tuple& t) {
                        if (t.size() != 3) throw Error(Status::InvalidArgument, "ShardSetManifest: malformed pickled state");
                        ShardSetManifest s;
                        s.shards = t[0].cast<std::vector<std::string>>();
                        s.template_file = t[1].cast<std::string>();
                        s.model_fingerprint = t[2].cast<std::string>();
                        return s;
                      }));
}


}  // namespace

namespace {

// The Index on its own.
void bind_index(py::module_& m) {
  py::class_<Index>(m, "Index", "Exact L2 k-NN over float32 embeddings, partitioned by category.")
      .def(py::init<int>(), py::arg("dimension"))
      .def_property_readonly("dimension", &Index::dimension)
      .def("__repr__", [](const Index& i) {
        return "Index(dimension=" + std::to_string(i.dimension()) + ", items=" + std::to_string(i.size()) +
               ", categories=" + std::to_string(i.category_count()) + ")";
      })
      .def("__len__", [](const Index& i) { return i.size(); })
      .def("__contains__", &Index::contains)
      .def("add_category", &Index::add_category, py::arg("name"))
      .def("add", [](Index& index, const py::object& key_array, const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& categories,
                     const F32Array& embeddings) {
        const KeyArray keys = index_keys(key_array);
        if (embeddings.ndim() != 2 || embeddings.shape(1) != index.dimension() || keys.size() != embeddings.shape(0) ||
            categories.size() != keys.size())
          throw Error(Status::InvalidArgument, "add: keys (n), categories (n) and embeddings (n x dimension) disagree");
        py::gil_scoped_release release;
        index.add_batch(ItemBatch{static_cast<std::size_t>(keys.size()), keys.data(), categories.data(), embeddings.data()});
      }, py::arg("keys"), py::arg("categories"), py::arg("embeddings"))
      .def("remove", &Index::remove, py::arg("key"))
      .def("search", [](const Index& index, const F32Array& queries, std::size_t k, const std::vector<std::int32_t>& categories) {
        if (queries.ndim() != 2 || queries.shape(1) != index.dimension())
          throw Error(Status::InvalidArgument, "search: queries must be n x dimension float32");
        // The answer is two n x k arrays: a k for which they cannot exist is refused before searching (a k
        // above the index's size is fine: the search lists the whole index, the rest is padding).
        const auto rows = static_cast<std::size_t>(std::max<py::ssize_t>(queries.shape(0), 1));
        if (k > static_cast<std::size_t>(PY_SSIZE_T_MAX) / sizeof(std::uint64_t) / rows)
          throw Error(Status::InvalidArgument, "search: k = " + std::to_string(k) + " for " + std::to_string(queries.shape(0)) +
                                                   " queries: the n x k answer cannot fit in memory");
        std::vector<std::vector<SearchHit>> hits;
        {
          py::gil_scoped_release release;
          hits = index.search_batch(queries.data(), static_cast<std::size_t>(queries.shape(0)), k, categories);
        }
        py::array_t<std::uint64_t> keys({static_cast<py::ssize_t>(hits.size()), static_cast<py::ssize_t>(k)});
        py::array_t<float> dists({static_cast<py::ssize_t>(hits.size()), static_cast<py::ssize_t>(k)});
        auto K = keys.mutable_unchecked<2>();
        auto D = dists.mutable_unchecked<2>();
        for (std::size_t q = 0; q < hits.size(); ++q)
          for (std::size_t j = 0; j < k; ++j) {
            K(q, j) = j < hits[q].size() ? hits[q][j].key : UINT64_MAX;
            D(q, j) = j < hits[q].size() ? hits[q][j].distance : std::numeric_limits<float>::infinity();
          }
        return py::make_tuple(keys, dists);
      }, py::arg("queries"), py::arg("k"), py::arg("categories") = std::vector<std::int32_t>{},
         "Returns (keys, distances), each n x k, padded with 2**64-1 and inf.")
      .def("save", &Index::save, py::arg("path"), py::call_guard<py::gil_scoped_release>(),
           "Writes the index atomically; Conflict over the file it was loaded from or last saved to when another\n"
           "writer replaced it meanwhile (load it again and reapply); Io for a path that is not a regular file.")
      .def_static("load", &Index::load, py::arg("path"), py::call_guard<py::gil_scoped_release>());
}

}  // namespace

PYBIND11_MODULE(_domainsearch, m) {
  m.doc() = "libdomainsearch: domain-specific image similarity search (Waqas et al., CMC 2023)";
  m.attr("__version__") = DS_VERSION_STRING;
  bind_errors(m);
  bind_config(m);
  bind_results(m);
  bind_object_results(m);
  bind_pipeline(m);
  bind_shards(m);
  bind_index(m);
}
