"""The Python package's own surface (issue #22): the process settings applied at import (and their opt-out),
an exception class per Status, one-line reprs, pickled configurations and results, Pipeline as a context
manager whose close() releases it, and the docstrings of add and upsert. Needs the built package on
PYTHONPATH; the tests that run models need DS_TEST_MODEL_DIR (tiny models)."""
import copy
import json
import os
import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

ds = pytest.importorskip("domainsearch")
from tiny_models import make_config, picture  # noqa: E402 (after the import check)
MODELS = os.environ.get("DS_TEST_MODEL_DIR")
needs_models = pytest.mark.skipif(not MODELS, reason="DS_TEST_MODEL_DIR not set")

# src/core/error.cpp's status_name() list, Ok aside.
STATUSES = ("InvalidArgument", "Io", "FormatVersion", "Corrupt", "ModelMismatch", "DeviceUnavailable", "ImageDecode",
            "ImageTooSmall", "ImageTooLarge", "NotFound", "AlreadyExists", "Cancelled", "Internal", "OutOfMemory", "Conflict")


@pytest.fixture()
def pipeline():
    p = ds.Pipeline(make_config(localize=True))
    for i in range(6):
        p.add(i, picture(i), "odd" if i % 2 else "even", f"item {i}")
    return p


# ---- process settings at import

# Imports the package in a fresh process; prints process_tuned and, for each OpenBLAS the process holds (by
# the address of its openblas_get_num_threads), its thread count.
PROBE = r"""
import ctypes, json, os
import domainsearch as ds
threads = {}
for line in open("/proc/self/maps"):
    fields = line.split()
    if len(fields) < 6 or ".so" not in os.path.basename(fields[-1]):
        continue
    try:
        get = ctypes.CDLL(fields[-1], mode=os.RTLD_NOW | os.RTLD_NOLOAD).openblas_get_num_threads
    except (OSError, AttributeError):
        continue
    threads[str(ctypes.cast(get, ctypes.c_void_p).value)] = get()
print(json.dumps({"process_tuned": ds.process_tuned, "openblas_threads": sorted(threads.values())}))
"""


def probe(opt_out):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    env.pop("DOMAINSEARCH_NO_PROCESS_TUNING", None)
    if opt_out is not None:
        env["DOMAINSEARCH_NO_PROCESS_TUNING"] = opt_out
    run = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_import_applies_the_process_settings_unless_opted_out():
    assert probe(None)["process_tuned"] is True
    assert probe("0")["process_tuned"] is True  # documented: empty or 0 does not opt out
    assert probe("1")["process_tuned"] is False
    assert isinstance(ds.process_tuned, bool) and "DOMAINSEARCH_NO_PROCESS_TUNING" in ds.__doc__ and "process_tuned" in ds.__doc__


def test_the_process_settings_run_openblas_on_one_thread():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: OpenBLAS runs one thread either way")
    tuned, untouched = probe(None), probe("1")
    if not tuned["openblas_threads"]:
        pytest.skip("no OpenBLAS in the process (another BLAS): nothing to set")
    assert 1 in tuned["openblas_threads"], tuned  # the OpenBLAS the library and LibTorch link
    assert 1 not in untouched["openblas_threads"], untouched  # OPENBLAS_NUM_THREADS=2 stands


# ---- exceptions

def test_each_status_has_its_error_class():
    for status in STATUSES:
        cls = getattr(ds, status + "Error")
        assert cls.__name__ == status + "Error" and status + "Error" in ds.__all__
        assert issubclass(cls, ds.Error) and issubclass(cls, RuntimeError) and cls.status == status
    assert issubclass(ds.InvalidArgumentError, ValueError) and not issubclass(ds.ConflictError, ValueError)
    assert issubclass(ds.Error, RuntimeError)
    native = {name for name in dir(ds._domainsearch) if name.endswith("Error")}
    assert native == {"Error"} | {status + "Error" for status in STATUSES}, "a Status without its class here (or the reverse)"


def test_a_conflict_raises_conflict_error(tmp_path):
    path = str(tmp_path / "index.dsidx")
    index = ds.Index(4)
    index.add_category("a")
    index.save(path)
    first, second = ds.Index.load(path), ds.Index.load(path)
    first.add([1], [0], np.ones((1, 4), np.float32))
    first.save(path)
    second.add([2], [0], np.ones((1, 4), np.float32))
    with pytest.raises(ds.ConflictError) as e:
        second.save(path)
    assert type(e.value) is ds.ConflictError and isinstance(e.value, ds.Error) and isinstance(e.value, RuntimeError)
    assert e.value.status == "Conflict" and "index.dsidx" in str(e.value) and not isinstance(e.value, ValueError)
    with pytest.raises(ds.Error) as e:  # the base still catches everything
        second.save(path)
    assert e.value.status == "Conflict"
    with pytest.raises(ds.NotFoundError) as e:
        first.remove(12345)
    assert e.value.status == "NotFound" and "12345" in str(e.value)
    with pytest.raises(ValueError) as e:
        first.search(np.zeros((1, 3), np.float32), 1)
    assert type(e.value) is ds.InvalidArgumentError and e.value.status == "InvalidArgument"
    again = pickle.loads(pickle.dumps(e.value))  # exceptions cross processes (Dask) with their status
    assert type(again) is ds.InvalidArgumentError and again.status == "InvalidArgument" and str(again) == str(e.value)
    assert ds.ConflictError("raised by hand").status == "Conflict"


# ---- reprs

def test_reprs_of_configurations_and_the_index():
    config = ds.PipelineConfig()
    config.backbone_manifest = "models/backbone.json"
    config.k = 7
    config.category_mode = "off"
    text = repr(config)
    assert text.startswith("PipelineConfig(backbone_manifest='models/backbone.json', ") and "\n" not in text
    assert "k=7" in text and "category_mode='off'" in text and "rerank='off'" in text and "fine_tuning.enabled=False" in text
    assert repr(config.fine_tuning).startswith("FineTuningOptions(enabled=False, first_stage=11, epochs=4, ")
    index = ds.Index(4)
    index.add_category("a")
    index.add([1, 2], [0, 0], np.ones((2, 4), np.float32))
    assert repr(index) == "Index(dimension=4, items=2, categories=1)"
    manifest = ds.ShardSetManifest()
    manifest.shards = ["a.dscat", "b.dscat"]
    assert repr(manifest) == "ShardSetManifest(shards=2, template_file='template.dscat', model_fingerprint='')"


@needs_models
def test_reprs_of_results_and_the_pipeline(pipeline):
    response = pipeline.query(picture(4), k=3)
    first = repr(response.results[0])
    assert first.startswith("QueryResult(key=4, label='item 4', category='even', distance=") and "score=" in first
    assert "match_probability" not in first  # -1: the catalogue is not fine-tuned
    text = repr(response)
    assert text.startswith("QueryResponse(results=3, first=(key=4, label='item 4', distance=")
    assert "no_match=False" in text and "localization=True" in text and "total_ms=" in text and "\n" not in text
    assert repr(response.localization).startswith("Localization(size=64x48, box=(")
    analysis = pipeline.analyze(picture(1))
    assert repr(analysis) == f"ImageAnalysis(dimension=16, has_contour={analysis.has_contour})"
    assert repr(pipeline) == "Pipeline(items=6, dimension=16, categories=2, category_head=False, fine_tuned=False)"


# ---- pickling

def settings(obj):
    """The plain-valued attributes of a configuration."""
    return {name: getattr(obj, name) for name in dir(obj)
            if not name.startswith("_") and isinstance(getattr(obj, name), (bool, int, float, str))}


def test_configurations_pickle_with_every_field():
    config = ds.PipelineConfig()
    values = dict(backbone_manifest="/m/b.json", segmenter_manifest="/m/s.json", object_finder_manifest="/m/f.json", localize=True, k=7, batch_size=3, training_views=2,
                  adapt_embedding=True, one_result_per_label=False, soft_threshold=0.75, iou_weight=0.5, rerank_depth=9,
                  match_threshold=0.25, match_distance=0.5, min_confidence=0.375, device="cuda:1", threads=3, grayscale=True,
                  category_mode="predicted_hard", rerank="fused")
    for name, value in values.items():
        setattr(config, name, value)
    config.fine_tuning.enabled = True
    config.fine_tuning.epochs = 5
    config.fine_tuning.backbone_learning_rate = 0.125
    config.fine_tuning.seed = 7
    config.fine_tuning.metric_loss_weight = 0.5
    config.confidence = ds.ConfidenceModel(bias=1.5, probability=0.25, distance=-2.0, margin=0.75)
    assert settings(config) == values  # every attribute set, none left at its default
    for again in (pickle.loads(pickle.dumps(config)), copy.deepcopy(config)):
        assert settings(again) == settings(config)
        assert settings(again.fine_tuning) == settings(config.fine_tuning)
        assert settings(again.confidence) == settings(config.confidence) == dict(bias=1.5, probability=0.25, distance=-2.0, margin=0.75,
                                                                                 empty=False)
    assert config.object_rules is None  # the products of an object query take the photo rules
    config.object_rules = ds.NoMatchRules(match_distance=0.75, min_confidence=0.25)
    again = pickle.loads(pickle.dumps(config))
    assert settings(again.object_rules) == dict(match_threshold=0.0, match_distance=0.75, min_confidence=0.25)
    assert repr(again.object_rules) == "NoMatchRules(match_threshold=0, match_distance=0.75, min_confidence=0.25)"
    options = pickle.loads(pickle.dumps(config.fine_tuning))
    assert isinstance(options, ds.FineTuningOptions) and settings(options) == settings(config.fine_tuning)

    state = config.__getstate__()
    del state["k"]  # as an older version's pickle, without a newer field: its default
    older = ds.PipelineConfig.__new__(ds.PipelineConfig)
    older.__setstate__(state)
    assert older.k == ds.PipelineConfig().k and older.threads == 3
    state["no_such_field"] = 1  # a newer version's field: refused, not dropped
    with pytest.raises(ds.InvalidArgumentError, match="no_such_field"):
        ds.PipelineConfig.__new__(ds.PipelineConfig).__setstate__(state)

    manifest = ds.ShardSetManifest()
    manifest.shards, manifest.template_file, manifest.model_fingerprint = ["s0.dscat", "s1.dscat"], "t.dscat", "ab" * 32
    again = pickle.loads(pickle.dumps(manifest))
    assert (again.shards, again.template_file, again.model_fingerprint) == (manifest.shards, manifest.template_file, manifest.model_fingerprint)


@needs_models
def test_a_pickled_configuration_keeps_the_settings_python_does_not_show(tmp_path):
    (tmp_path / "limits.json").write_text(json.dumps(dict(backbone=os.path.join(MODELS, "backbone.json"), threads=1,
                                                          category_mode="off", max_pixels=1000)))
    config = pickle.loads(pickle.dumps(ds.PipelineConfig.load(str(tmp_path / "limits.json"))))
    with pytest.raises(ds.ImageTooLargeError) as e:  # picture() is 64x48 = 3072 pixels
        ds.Pipeline(config).query(picture(1))
    assert "limit of 1000 pixels" in str(e.value)


@needs_models
def test_results_pickle_field_by_field(pipeline):
    fields = ("key", "label", "category", "source", "distance", "iou", "score", "match_probability", "photos")
    response = pipeline.query(picture(4), k=3)
    again = pickle.loads(pickle.dumps(response))
    assert [[getattr(r, f) for f in fields] for r in again.results] == [[getattr(r, f) for f in fields] for r in response.results]
    assert (again.predicted, again.searched, again.no_match, again.timings) == (response.predicted, response.searched,
                                                                                 response.no_match, response.timings)
    assert again.localization is None  # the pixels stay in the process that ran the query
    one = pickle.loads(pickle.dumps(response.results[0]))
    assert [getattr(one, f) for f in fields] == [getattr(response.results[0], f) for f in fields]
    analysis = pipeline.analyze(picture(2))
    copied = pickle.loads(pickle.dumps(analysis))
    assert np.array_equal(copied.embedding, analysis.embedding) and copied.has_contour == analysis.has_contour


# ---- items and their photos

def item_catalogue(config):
    """Six items of one photo each, then item 4 with two more photos (its picture again, keys 10 and 11)."""
    p = ds.Pipeline(config)
    for i in range(6):
        p.add(i, picture(i), "boxes", f"item {i}")
    for key in (10, 11):
        p.add(key, picture(4), "boxes", "item 4")
    return p


def ascending(photos):
    return all(a[1] <= b[1] for a, b in zip(photos, photos[1:]))


@needs_models
def test_results_are_items_with_their_photos_unless_items_is_false():
    config = make_config()
    pipeline = item_catalogue(config)
    items = pipeline.query(picture(4), k=10)
    labels = [r.label for r in items.results]
    assert len(labels) == len(set(labels)) == 6  # every item once, though item 4 has three photos
    first = items.results[0]
    assert first.label == "item 4" and len(first.photos) == 3 and {key for key, _ in first.photos} == {4, 10, 11}
    assert first.photos[0] == (first.key, first.distance) and ascending(first.photos)
    assert all(len(r.photos) == 1 and r.photos[0][0] == r.key for r in items.results[1:])
    assert repr(first).endswith(", photos=3)")

    photos = pipeline.query(picture(4), k=10, items=False)
    assert len(photos.results) == 8 and [r.label for r in photos.results[:3]] == ["item 4"] * 3  # a label repeats
    assert all(r.photos == [] for r in photos.results) and "photos=" not in repr(photos.results[0])
    for name, call in (("query_key", lambda **kw: pipeline.query_key(10, k=10, **kw)),  # 10 itself excluded
                       ("query_batch", lambda **kw: pipeline.query_batch([picture(4)], k=10, **kw)[0]),
                       ("query_analyzed", lambda **kw: pipeline.query_analyzed(pipeline.analyze(picture(4)), k=10, **kw))):
        labels, listed = [r.label for r in call().results], call(items=False).results
        assert len(labels) == len(set(labels)), name
        assert [r.label for r in listed[:2]] == ["item 4"] * 2 and all(r.photos == [] for r in listed), name

    # Shards: each answers with the same items setting, and the merge keeps the items' photos.
    analysis = pipeline.analyze(picture(4))
    for answer in (None, False):
        shard = pipeline.query_analyzed(analysis, k=10, as_shard=True, items=answer)
        merged = ds.merge_shard_responses([shard], config, k=10, items=answer)
        direct = pipeline.query(picture(4), k=10, items=answer)
        assert [(r.key, r.label, r.photos) for r in merged.results] == [(r.key, r.label, r.photos) for r in direct.results], answer

    # The configuration's setting is the default; items=True overrides it.
    config.one_result_per_label = False
    listing = item_catalogue(config)
    assert len(listing.query(picture(4), k=10).results) == 8
    assert [r.photos for r in listing.query(picture(4), k=10, items=True).results] == [r.photos for r in items.results]

    # Pickled with their photos; an older pickle (eight fields, no photos) still loads.
    again = pickle.loads(pickle.dumps(items))
    assert [r.photos for r in again.results] == [r.photos for r in items.results]
    state = first.__getstate__()
    assert len(state) == 9 and pickle.loads(pickle.dumps(first)).photos == first.photos
    older = ds.QueryResult.__new__(ds.QueryResult)
    older.__setstate__(state[:8])
    assert (older.key, older.label, older.distance, older.photos) == (first.key, first.label, first.distance, [])
    with pytest.raises(ds.InvalidArgumentError, match="QueryResult"):
        ds.QueryResult.__new__(ds.QueryResult).__setstate__(state[:7])


# ---- Pipeline as a context manager

@needs_models
def test_a_with_block_closes_the_pipeline(tmp_path):
    path = str(tmp_path / "c.dscat")
    pipeline = ds.Pipeline(make_config())
    with pipeline as p:
        assert p is pipeline and not p.closed
        p.add(1, picture(1), "boxes", "one")
        p.save(path)
    assert p.closed and repr(p) == "Pipeline(closed)"
    calls = (lambda: p.query(picture(1)), lambda: len(p), lambda: p.keys, lambda: p.add(2, picture(2), "boxes"),
             lambda: p.save(str(tmp_path / "d.dscat")), lambda: p.train_categories(), lambda: p.analyze(picture(1)),
             lambda: ds.Pipeline(make_config()).install_category_model(p))
    for call in calls:
        with pytest.raises(ds.InvalidArgumentError, match="closed"):
            call()
    with pytest.raises(ValueError):  # as a closed file's
        with p:
            pass
    p.close()  # closing twice is harmless
    with pytest.raises(ds.NotFoundError):
        with ds.Pipeline.open(path, make_config()) as reopened:
            assert reopened.keys == [1] and reopened.query(picture(1)).results[0].label == "one"
            reopened.remove(99)
    assert reopened.closed  # an exception in the block closes it too, and propagates


@needs_models
def test_closing_while_another_thread_queries_is_safe(pipeline):
    keys, errors = [], []
    started = threading.Event()

    def query_until_closed():
        started.set()
        try:
            while True:
                keys.append(pipeline.query(picture(3)).results[0].key)
        except ds.InvalidArgumentError as e:
            errors.append(str(e))

    thread = threading.Thread(target=query_until_closed)
    thread.start()
    started.wait()
    while not keys and thread.is_alive():  # close while queries run: after the first has answered
        time.sleep(0.01)
    pipeline.close()  # the running query keeps the models until it ends
    thread.join(timeout=120)
    assert not thread.is_alive() and len(errors) == 1 and "closed" in errors[0]
    assert set(keys) <= {3}


# ---- docstrings

def test_add_and_upsert_have_their_own_docstrings():
    def body(method):  # pybind11 puts the signature on the first line
        return method.__doc__.split("\n", 1)[1].strip()
    add, upsert = body(ds.Pipeline.add), body(ds.Pipeline.upsert)
    assert add != upsert
    assert "AlreadyExistsError" in add and "AlreadyExistsError" not in upsert and "replaces the item" in upsert
    assert "with" in ds.Pipeline.__doc__ and "Releases" in ds.Pipeline.close.__doc__
