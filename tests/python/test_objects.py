"""Several products in one photo from Python (Pipeline.query_objects): the answer equals the C ABI's for the same
catalogue and photo (ctypes, as test_c_abi_ctypes.py loads it), its reprs and `items` tuples, both crops, and the
errors. Needs the built package on PYTHONPATH, DS_TEST_MODEL_DIR (tiny models) and, for the comparison, DS_LIBRARY
(libdomainsearch_c.so)."""
import ctypes as C
import os
import pickle

import numpy as np
import pytest

ds = pytest.importorskip("domainsearch")
from c_abi_types import DS_ERR_NOT_FOUND, DS_OK, Image, PipelineOptions, Result, as_image  # noqa: E402
from tiny_models import make_config, picture  # noqa: E402 (after the import check)

MODELS = os.environ.get("DS_TEST_MODEL_DIR")
LIB_PATH = os.environ.get("DS_LIBRARY")
pytestmark = pytest.mark.skipif(not MODELS, reason="DS_TEST_MODEL_DIR not set")

DS_CROP_CUTOUT, DS_CROP_BOX = 0, 1


BROWN, BLUE = (120, 80, 60), (40, 60, 170)


def package(rgb, x0, x1, fill):
    """A dark package 70 pixels tall from x0 to x1: `fill` inside a 3-pixel dark outline."""
    rgb[13:83, x0:x1] = 20
    rgb[16:80, x0 + 3:x1 - 3] = fill


def scene():
    """A 160x96 white photo: two brown packages side by side, touching, and a blue one apart."""
    rgb = np.full((96, 160, 3), 255, np.uint8)
    package(rgb, 20, 60, BROWN)
    package(rgb, 60, 100, BROWN)
    package(rgb, 115, 150, BLUE)
    return rgb


def studio(fill, width):
    """The catalogue's picture of a package: alone on white."""
    rgb = np.full((96, width + 40, 3), 255, np.uint8)
    package(rgb, 20, 20 + width, fill)
    return rgb


def catalogue_pictures():
    """(key, picture, label): tiny_models' six pictures and the studio pictures of the scene's two packages."""
    return [(i, picture(i), f"item {i}") for i in range(6)] + [(10, studio(BROWN, 40), "brown"), (11, studio(BLUE, 35), "blue")]


def catalogue(p):
    for key, rgb, label in catalogue_pictures():
        p.add(key, rgb, "boxes", label)
    return p


@pytest.fixture(scope="module")
def pipeline():
    with ds.Pipeline(make_config()) as p:
        yield catalogue(p)


# ---- the C ABI through ctypes: the same catalogue, the same photo








def c_objects(rgb, crop):
    """query_objects through the C ABI, on a pipeline of the same models and configuration (config.json: the
    tiny backbone and segmenter, one thread, category mode off, no localisation) and catalogue:
    (boxes, first labels, first distances, items, unmatched)."""
    lib = C.CDLL(LIB_PATH)
    lib.ds_last_error.restype = C.c_char_p
    lib.ds_pipeline_add_pixels.argtypes = [C.c_void_p, C.c_uint64, C.POINTER(Image), C.c_char_p, C.c_char_p, C.c_int]
    lib.ds_pipeline_query_objects_pixels.argtypes = [C.c_void_p, C.POINTER(Image), C.c_void_p, C.c_int, C.POINTER(C.c_void_p)]
    lib.ds_objects_count.argtypes = lib.ds_objects_item_count.argtypes = lib.ds_objects_unmatched.argtypes = [C.c_void_p]
    lib.ds_objects_count.restype = lib.ds_objects_item_count.restype = lib.ds_objects_unmatched.restype = C.c_size_t
    lib.ds_objects_box.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(C.c_int32)]
    lib.ds_objects_answer.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(C.c_void_p)]
    lib.ds_objects_item.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(C.c_char_p), C.POINTER(C.c_char_p), C.POINTER(C.c_size_t)]
    lib.ds_objects_free.argtypes = [C.c_void_p]
    lib.ds_results_get.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(Result)]
    lib.ds_pipeline_free.argtypes = [C.c_void_p]

    opts = PipelineOptions()
    lib.ds_pipeline_options_init(C.byref(opts))
    assert opts.struct_size == C.sizeof(PipelineOptions), "the ctypes layout must match the C header"
    opts.config_path = os.path.join(MODELS, "config.json").encode()
    handle, objects = C.c_void_p(), C.c_void_p()
    assert lib.ds_pipeline_create(C.byref(opts), C.byref(handle)) == DS_OK, lib.ds_last_error()
    try:
        for key, pic, label in catalogue_pictures():
            assert lib.ds_pipeline_add_pixels(handle, key, C.byref(as_image(pic)), b"boxes", label.encode(), 0) == DS_OK
        status = lib.ds_pipeline_query_objects_pixels(handle, C.byref(as_image(rgb)), None, crop, C.byref(objects))
        assert status == DS_OK, lib.ds_last_error()
        boxes, labels, distances, items = [], [], [], []
        n = lib.ds_objects_count(objects)
        for i in range(n):
            box, answer, first = (C.c_int32 * 4)(), C.c_void_p(), Result()
            assert lib.ds_objects_box(objects, i, box) == DS_OK
            assert lib.ds_objects_answer(objects, i, C.byref(answer)) == DS_OK
            assert lib.ds_results_get(answer, 0, C.byref(first)) == DS_OK
            boxes.append(tuple(box))
            labels.append(first.label.decode())
            distances.append(first.distance)
        assert lib.ds_objects_box(objects, n, (C.c_int32 * 4)()) == DS_ERR_NOT_FOUND
        for i in range(lib.ds_objects_item_count(objects)):
            label, category, count = C.c_char_p(), C.c_char_p(), C.c_size_t()
            assert lib.ds_objects_item(objects, i, C.byref(label), C.byref(category), C.byref(count)) == DS_OK
            items.append((label.value.decode(), category.value.decode(), count.value))
        return boxes, labels, distances, items, lib.ds_objects_unmatched(objects)
    finally:
        lib.ds_objects_free(objects)
        lib.ds_pipeline_free(handle)


@pytest.mark.skipif(not LIB_PATH, reason="DS_LIBRARY not set")
@pytest.mark.parametrize("crop, c_crop", [("cutout", DS_CROP_CUTOUT), ("box", DS_CROP_BOX)])
def test_query_objects_answers_as_the_c_abi_does(pipeline, crop, c_crop):
    rgb = scene()
    r = pipeline.query_objects(rgb, crop=crop)
    boxes, labels, distances, items, unmatched = c_objects(rgb, c_crop)
    assert len(r.objects) == 3  # the touching pair is cut in two
    assert [o.box for o in r.objects] == boxes
    assert [o.answer.results[0].label for o in r.objects] == labels
    assert [o.answer.results[0].distance for o in r.objects] == pytest.approx(distances, rel=1e-5)
    assert r.items == items
    assert r.unmatched == unmatched


def test_objects_response_surface(pipeline):
    rgb = scene()
    r = pipeline.query_objects(rgb)
    assert isinstance(r, ds.ObjectsResponse)
    assert (r.width, r.height) == (160, 96)
    assert len(r.objects) == 3
    xs = [o.box[0] for o in r.objects]
    assert xs == sorted(xs)  # one row: left to right
    for o in r.objects:
        assert isinstance(o, ds.FoundObject)
        x, y, w, h = o.box
        assert all(isinstance(v, int) for v in o.box)
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 160 and y + h <= 96
        assert isinstance(o.answer, ds.QueryResponse)
        assert len(o.answer.results) == 8  # every catalogue item (k = 10)
        assert not o.answer.no_match
        assert repr(o) == (f"FoundObject(box=({x}, {y}, {w}, {h}), item={o.answer.results[0].label!r}, no_match=False, "
                           "confidence=-1)")
    # The tiny backbone tells the two packages apart by colour (nearest distances about 0.45, the next item's 0.67).
    assert [o.answer.results[0].label for o in r.objects] == ["brown", "brown", "blue"]
    # items: (label, category, count) tuples, most frequent first.
    assert r.items == [("brown", "boxes", 2), ("blue", "boxes", 1)]
    assert all(type(t) is tuple for t in r.items)
    assert r.unmatched == 0
    assert repr(r) == "ObjectsResponse(objects=3, items=2, unmatched=0)"
    assert set(r.timings) == {"decode", "find", "crop", "embed", "search", "total"}
    assert r.timings["total"] > 0
    # k per product, as for query().
    assert all(len(o.answer.results) == 2 for o in pipeline.query_objects(rgb, k=2).objects)
    # Pickles whole (Dask moves answers between processes).
    again = pickle.loads(pickle.dumps(r))
    assert (again.width, again.height, again.items, again.unmatched, again.timings) == (r.width, r.height, r.items, r.unmatched, r.timings)
    assert [(o.box, [x.label for x in o.answer.results], o.answer.confidence) for o in again.objects] == \
           [(o.box, [x.label for x in o.answer.results], o.answer.confidence) for o in r.objects]


def test_crops_and_errors(pipeline, tmp_path):
    rgb = scene()
    for crop in ("cutout", "box"):
        assert len(pipeline.query_objects(rgb, crop=crop).objects) == 3
    with pytest.raises(ds.InvalidArgumentError, match="crop"):
        pipeline.query_objects(rgb, crop="bad")
    with pytest.raises(ds.InvalidArgumentError):
        pipeline.query_objects(rgb, k=0)
    # A path and encoded bytes are accepted as by query().
    from_array = [o.box for o in pipeline.query_objects(rgb).objects]
    path = tmp_path / "scene.ppm"
    path.write_bytes(b"P6\n160 96\n255\n" + rgb.tobytes())
    assert [o.box for o in pipeline.query_objects(path).objects] == from_array
    assert [o.box for o in pipeline.query_objects(path.read_bytes()).objects] == from_array
    by_name = pipeline.query_objects(str(path))  # decoded by the query: the decoding is timed
    assert [o.box for o in by_name.objects] == from_array and by_name.timings["decode"] > 0
    # A white photo: no products.
    white = pipeline.query_objects(np.full((96, 160, 3), 255, np.uint8))
    assert white.objects == [] and white.items == [] and white.unmatched == 0
    with ds.Pipeline(make_config()) as empty:
        with pytest.raises(ds.NotFoundError):
            empty.query_objects(rgb)
    config = make_config()
    config.segmenter_manifest = ""
    with catalogue(ds.Pipeline(config)) as blind:
        with pytest.raises(ds.InvalidArgumentError, match="segmenter"):
            blind.query_objects(rgb)
