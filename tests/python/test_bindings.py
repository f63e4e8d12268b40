"""The pybind11 module: numpy images in, numpy embeddings out, errors as domainsearch.Error.
Needs the built package on PYTHONPATH (build/bindings/python) and DS_TEST_MODEL_DIR (tiny models)."""
import os
import threading

import numpy as np
import pytest

ds = pytest.importorskip("domainsearch")
from tiny_models import make_config, picture  # noqa: E402 (after the import check)
MODELS = os.environ.get("DS_TEST_MODEL_DIR")
pytestmark = pytest.mark.skipif(not MODELS, reason="DS_TEST_MODEL_DIR not set")


def write_catalogue(folder, count):
    """Writes `count` pictures and a CSV naming them; returns the CSV's path."""
    import cv2  # Debian's python3-opencv writes the files
    rows = ["path,label,category"]
    for i in range(count):
        cv2.imwrite(str(folder / f"{i}.png"), picture(i))
        rows.append(f"{i}.png,item {i},boxes")
    (folder / "items.csv").write_text("\n".join(rows) + "\n")
    return str(folder / "items.csv")


@pytest.fixture()
def pipeline():
    p = ds.Pipeline(make_config(localize=True))
    for i in range(6):
        p.add(i, picture(i), "odd" if i % 2 else "even", f"item {i}")
    return p


def test_query_numpy_bytes_and_path(pipeline, tmp_path):
    response = pipeline.query(picture(4), k=3)
    assert [r.key for r in response.results][:1] == [4]
    assert response.results[0].label == "item 4" and response.results[0].distance < 1e-6
    assert response.localization is not None and response.localization.mask.shape == (48, 64)
    assert response.localization.cutout.ndim == 3
    assert set(response.timings) >= {"decode", "embed", "search", "total"}
    import cv2
    path = tmp_path / "q.png"
    cv2.imwrite(str(path), picture(2)[:, :, ::-1])
    assert pipeline.query(path).results[0].key == 2
    assert pipeline.query(path.read_bytes()).results[0].key == 2
    gray = picture(2).mean(axis=2).astype(np.uint8)
    assert len(pipeline.query(gray).results) == 6


def test_query_key_categories_and_embeddings(pipeline):
    hits = pipeline.query_key(2, category="even").results
    assert 2 not in [h.key for h in hits] and all(h.category == "even" for h in hits)
    emb = pipeline.embedding(3)
    assert emb.dtype == np.float32 and emb.shape == (16,)
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5
    assert sorted(pipeline.categories) == ["even", "odd"]


def test_errors_keep_the_library_message(pipeline):
    with pytest.raises(ds.Error) as e:
        pipeline.add(1, picture(1), "odd")
    assert e.value.status == "AlreadyExists" and "1" in str(e.value)
    with pytest.raises(ds.Error) as e:
        pipeline.query(b"not an image")
    assert e.value.status == "ImageDecode"
    with pytest.raises(ds.Error) as e:
        pipeline.query(picture(1), k=0)
    assert e.value.status == "InvalidArgument"
    with pytest.raises(ds.Error):
        pipeline.query(np.zeros((5, 5, 2), np.uint8))
    with pytest.raises(ds.Error) as e:
        pipeline.remove(12345)
    assert e.value.status == "NotFound"


def test_save_open_and_train(pipeline, tmp_path):
    report = pipeline.train_categories()
    assert report["samples"] == 6 and pipeline.has_category_head
    path = str(tmp_path / "cat.dscat")
    pipeline.save(path)
    reopened = ds.Pipeline.open(path, make_config())
    assert len(reopened) == 6
    assert reopened.query(picture(5)).results[0].key == 5


def test_index_csv_progress_can_stop(tmp_path):
    csv_path = write_catalogue(tmp_path, 5)
    p = ds.Pipeline(make_config())
    report = p.index_csv(csv_path, progress=lambda done, total: done < 2)
    assert report["cancelled"] and report["added"] == 2 and len(p) == 2
    assert p.index_csv(csv_path)["added"] == 3


def test_concurrent_queries_release_the_gil(pipeline):
    errors = []

    def worker(i):
        try:
            for _ in range(10):
                assert pipeline.query(picture(i)).results[0].key == i
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_index_numpy_api(tmp_path):
    index = ds.Index(4)
    a, b = index.add_category("a"), index.add_category("b")
    vectors = np.arange(24, dtype=np.float32).reshape(6, 4)
    index.add(np.arange(10, 16, dtype=np.uint64), np.array([a, a, a, b, b, b], np.int32), vectors)
    assert len(index) == 6 and 12 in index
    keys, dists = index.search(vectors[:2], 8)
    assert keys.shape == (2, 8) and keys[0, 0] == 10 and keys[1, 0] == 11
    assert keys[0, 7] == 2**64 - 1 and np.isinf(dists[0, 7])
    keys, _ = index.search(vectors[:1], 2, categories=[b])
    assert set(keys[0]) <= {13, 14, 15}
    with pytest.raises(ds.Error):
        index.search(vectors[:1], 0)
    with pytest.raises(ds.Error):
        index.add(np.array([1], np.uint64), np.array([a], np.int32), np.zeros((1, 3), np.float32))
    index.save(str(tmp_path / "i.dsidx"))
    assert len(ds.Index.load(str(tmp_path / "i.dsidx"))) == 6


def test_ctrl_c_stops_long_indexing(tmp_path):
    import signal
    csv_path = write_catalogue(tmp_path, 6)
    p = ds.Pipeline(make_config())

    def press_ctrl_c(done, total):
        if done == 2:
            signal.raise_signal(signal.SIGINT)
        return True

    with pytest.raises(KeyboardInterrupt):
        p.index_csv(csv_path, progress=press_ctrl_c)
    assert 2 <= len(p) < 6  # what was indexed before the interrupt stays; the process lives
    assert p.query(picture(0)).results[0].key == p.key_for_path(str(tmp_path / "0.png"))


def test_fine_tune_with_progress_and_cancel(tmp_path):
    config = make_config()
    config.backbone_manifest = os.path.join(MODELS, "trainable.json")
    config.fine_tuning.enabled = True
    config.fine_tuning.first_stage = 2
    config.fine_tuning.epochs = 2
    config.fine_tuning.batch_size = 4
    p = ds.Pipeline(config)
    csv = write_catalogue(tmp_path, 6)
    p.index_csv(csv)
    with pytest.raises(ds.Error) as cancelled:
        p.fine_tune(progress=lambda t: t["stage"] != "training")
    assert cancelled.value.status == "Cancelled" and not p.is_fine_tuned
    seen = []
    report = p.train_categories(progress=lambda t: seen.append((t["stage"], t["epoch"])))
    assert p.is_fine_tuned and report["epochs"] == 2
    assert ("training", 2) in seen and ("re-embedding", 0) in seen
    best = p.query(picture(2), k=2)
    assert 0.0 <= best.results[0].match_probability <= 1.0 and best.no_match is False  # both no-match rules off
    photos = [(str(tmp_path / f"{i}.png"), f"item {i}", "boxes") for i in range(6)]
    assert p.fine_tune(photos)["items"] == 6


def test_no_match_by_distance(tmp_path):
    config = make_config()
    assert config.match_distance == 0.0 and config.match_threshold == 0.0  # both rules off by default
    p = ds.Pipeline(config)
    p.index_csv(write_catalogue(tmp_path, 3))
    nearest = p.query(picture(5), k=1).results[0].distance  # a picture the catalogue does not hold
    assert nearest > 0 and p.query(picture(5), k=1).no_match is False
    for threshold, verdict in ((nearest * 0.5, True), (nearest * 2, False)):
        config.match_distance = threshold
        p.save(str(tmp_path / "c.dscat"))
        assert ds.Pipeline.open(str(tmp_path / "c.dscat"), config).query(picture(5), k=1).no_match is verdict


def test_images_must_be_uint8_arrays(pipeline):
    for image, dtype in (((picture(1) / 255.0).astype(np.float32), "float32"), (picture(1).astype(np.int64), "int64")):
        for call in (lambda im: pipeline.query(im), lambda im: pipeline.add(99, im, "odd"), lambda im: pipeline.upsert(1, im, "odd")):
            with pytest.raises(ds.Error) as e:
                call(image)
            assert e.value.status == "InvalidArgument" and dtype in str(e.value) and "uint8" in str(e.value)
    with pytest.raises(ds.Error) as e:
        pipeline.query(picture(1).tolist())  # a nested list is not silently converted
    assert e.value.status == "InvalidArgument"
    assert len(pipeline) == 6
    assert pipeline.query(picture(2)[:, :, :1]).results  # HxWx1 gray
    assert pipeline.query(picture(2)[:, ::-1]).results  # not C-contiguous: copied


def limited_pipeline(tmp_path, limits):
    """A pipeline whose configuration file sets decode limits (e.g. max_pixels)."""
    import json
    (tmp_path / "limits.json").write_text(json.dumps(dict(backbone=os.path.join(MODELS, "backbone.json"), threads=1,
                                                          category_mode="off", **limits)))
    return ds.Pipeline(ds.PipelineConfig.load(str(tmp_path / "limits.json")))


def test_decode_limits_apply_to_arrays_paths_and_bytes(tmp_path):
    import cv2
    p = limited_pipeline(tmp_path, {"max_pixels": 1000})  # picture() is 64x48 = 3072 pixels
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), picture(1))
    for image in (picture(1), path, str(path), path.read_bytes()):
        for call in (lambda im: p.query(im), lambda im: p.add(1, im, "boxes"), lambda im: p.upsert(1, im, "boxes"),
                     lambda im: p.query_batch([im])):
            with pytest.raises(ds.Error) as e:
                call(image)
            assert e.value.status == "ImageTooLarge"
    assert len(p) == 0
    small = limited_pipeline(tmp_path, {"min_side": 40})
    with pytest.raises(ds.Error) as e:
        small.add(1, picture(1)[:32, :32], "boxes")
    assert e.value.status == "ImageTooSmall"


def test_index_add_refuses_the_no_result_key_and_non_integer_keys():
    index = ds.Index(4)
    a = index.add_category("a")
    one = np.zeros((1, 4), np.float32)
    for keys, named in ((np.array([2**64 - 1], np.uint64), "2**64-1"), (np.array([-1]), "non-negative"),
                        (np.array([1.5]), "float64")):
        with pytest.raises(ds.Error) as e:
            index.add(keys, np.array([a], np.int32), one)
        assert e.value.status == "InvalidArgument" and named in str(e.value)
    assert len(index) == 0
    index.add([1, 2], [a, a], np.zeros((2, 4), np.float32))  # a list of ints
    index.add(np.array([2**64 - 2], np.uint64), [a], one)
    assert 2 in index and 2**64 - 2 in index and len(index) == 3


def test_add_tells_of_a_category_the_model_cannot_predict(tmp_path):
    config = make_config()
    config.category_mode = "predicted_hard"
    p = ds.Pipeline(config)
    for i in range(6):
        assert p.add(i, picture(i), "odd" if i % 2 else "even", f"item {i}") is False  # no model yet
    p.train_categories()
    assert p.add(10, picture(3), "odd", "known") is False
    assert p.add(11, picture(5), "new shelf", "new") is True
    assert p.untrained_categories == ["new shelf"]
    assert "new shelf" in p.query(picture(5), k=3).searched


def test_a_huge_array_view_is_refused_by_its_declared_size_before_any_copy(pipeline):
    # Zero-stride views declare billions of pixels while holding a few bytes: their contiguous copy
    # would have to allocate them all (and, when that fails, was used anyway).
    one = np.zeros((1, 1, 3), np.uint8)
    views = (np.broadcast_to(one, (50000, 50000, 3)),             # the issue's: 2.5e9 pixels, 7.5 GB copied
             np.broadcast_to(one, (2**20, 2**20, 3)),             # 3 TiB: no copy of it could be allocated
             np.broadcast_to(one, (50000, 50000, 3))[:, :, 0],    # gray
             np.broadcast_to(np.zeros((1, 1, 4), np.uint8), (2**31 + 5, 16, 4)))  # a side over INT_MAX
    calls = (lambda im: pipeline.query(im), lambda im: pipeline.add(99, im, "odd"), lambda im: pipeline.upsert(1, im, "odd"),
             lambda im: pipeline.query_batch([picture(1), im]), lambda im: pipeline.analyze(im))
    for view in views:
        assert view.strides[0] == 0
        size = f"{view.shape[1]}x{view.shape[0]}"
        for call in calls:
            with pytest.raises(ds.Error) as e:
                call(view)
            assert e.value.status == "ImageTooLarge", str(e.value)
            assert size in str(e.value) and "limit of 50000000 pixels" in str(e.value)  # DecodeLimits' default max_pixels
    assert len(pipeline) == 6
    small = np.broadcast_to(picture(2)[20:21, 30:31], (48, 64, 3))  # a zero-stride view within the limits is copied and used
    assert pipeline.query(small).results


def test_a_zero_stride_view_meets_the_configured_limit(tmp_path):
    p = limited_pipeline(tmp_path, {"max_pixels": 1000})
    with pytest.raises(ds.Error) as e:
        p.query(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (40, 40, 3)))
    assert e.value.status == "ImageTooLarge" and "40x40" in str(e.value) and "limit of 1000 pixels" in str(e.value)


def test_the_no_result_key_is_refused_by_every_pipeline_add(pipeline, tmp_path):
    import cv2
    none = 2**64 - 1  # search()'s "no result" padding (DS_KEY_NONE)
    analysis = pipeline.analyze(picture(1))
    for call in (lambda: pipeline.add(none, picture(1), "odd"), lambda: pipeline.upsert(none, picture(1), "odd"),
                 lambda: pipeline.add_analyzed(none, analysis, "odd")):
        with pytest.raises(ds.Error) as e:
            call()
        assert e.value.status == "InvalidArgument" and str(none) in str(e.value)
    cv2.imwrite(str(tmp_path / "p.png"), picture(1))
    report = pipeline.index_entries([(str(tmp_path / "p.png"), "x", "odd", none)])
    assert report["added"] == 0 and report["failed"] == 1 and str(none) in report["failures"][0][1]
    assert none not in pipeline.keys and len(pipeline) == 6
    pipeline.add(none - 1, picture(1), "odd")  # the largest key an item may have
    assert none - 1 in pipeline.keys


def test_index_search_with_a_k_above_its_size_lists_it(tmp_path):
    index = ds.Index(4)
    a = index.add_category("a")
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    index.add([1, 2, 3], [a, a, a], vectors)
    keys, dists = index.search(vectors[:1], 1000)
    assert keys.shape == (1, 1000) and list(keys[0, :3]) == [1, 2, 3] and keys[0, 3] == 2**64 - 1 and np.isinf(dists[0, 999])
    for k in (2**62, 2**64 - 1):
        with pytest.raises(ds.Error) as e:  # an n x k answer that cannot exist: a clear error, not a crash
            index.search(vectors[:1], k)
        assert e.value.status == "InvalidArgument" and str(k) in str(e.value)
