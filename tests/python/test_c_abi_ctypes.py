"""The C ABI called from Python through ctypes, the way an outside team would: only the C header's
types and functions, nothing of C++. Needs DS_LIBRARY (path of libdomainsearch_c.so, the C ABI) and
DS_TEST_MODEL_DIR (tiny models written by `unit_tests "[.write-test-models]"`)."""
import ctypes as C
import math
import os

import numpy as np
import pytest

LIB_PATH = os.environ.get("DS_LIBRARY")
MODELS = os.environ.get("DS_TEST_MODEL_DIR")
pytestmark = pytest.mark.skipif(not LIB_PATH or not MODELS, reason="DS_LIBRARY and DS_TEST_MODEL_DIR not set")

from c_abi_types import (DS_ERR_ALREADY_EXISTS, DS_ERR_CONFLICT, DS_ERR_IMAGE_DECODE, DS_ERR_INVALID_ARGUMENT, DS_ERR_IO,  # noqa: F401
                         DS_ERR_NOT_FOUND, DS_ERR_OUT_OF_MEMORY, DS_KEY_NONE, DS_OK, Image, PipelineOptions, Result, as_image)




class ShortQueryOptions(C.Structure):
    """A ds_query_options as a caller that knows only its first field passes it: it ends before `category`."""
    _fields_ = [("struct_size", C.c_uint32), ("k", C.c_size_t)]






@pytest.fixture(scope="module")
def lib():
    lib = C.CDLL(LIB_PATH)
    lib.ds_last_error.restype = C.c_char_p
    lib.ds_version_string.restype = C.c_char_p
    lib.ds_status_name.restype = C.c_char_p
    lib.ds_results_count.restype = C.c_size_t
    lib.ds_pipeline_add_pixels.argtypes = [C.c_void_p, C.c_uint64, C.POINTER(Image), C.c_char_p, C.c_char_p, C.c_int]
    lib.ds_pipeline_query_pixels.argtypes = [C.c_void_p, C.POINTER(Image), C.c_void_p, C.POINTER(C.c_void_p)]
    lib.ds_pipeline_query_bytes.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t, C.c_void_p, C.POINTER(C.c_void_p)]
    lib.ds_pipeline_query_key.argtypes = [C.c_void_p, C.c_uint64, C.c_void_p, C.POINTER(C.c_void_p)]
    lib.ds_pipeline_remove.argtypes = [C.c_void_p, C.c_uint64]
    lib.ds_results_get.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(Result)]
    lib.ds_results_copy.argtypes = [C.c_void_p, C.POINTER(C.c_uint64), C.POINTER(C.c_float), C.c_size_t]
    lib.ds_results_count.argtypes = [C.c_void_p]
    lib.ds_results_free.argtypes = [C.c_void_p]
    lib.ds_pipeline_free.argtypes = [C.c_void_p]
    return lib


def picture(i):
    rgb = np.full((48, 64, 3), 255, np.uint8)
    rgb[10:20 + 3 * i, 8:20 + 5 * i] = (30 * i, 200 - 30 * i, 60)
    return rgb



@pytest.fixture(scope="module")
def pipeline(lib):
    opts = PipelineOptions()
    lib.ds_pipeline_options_init(C.byref(opts))
    assert opts.struct_size == C.sizeof(PipelineOptions), "the ctypes layout must match the C header"
    opts.backbone_manifest = os.path.join(MODELS, "backbone.json").encode()
    opts.threads = 1
    handle = C.c_void_p()
    assert lib.ds_pipeline_create(C.byref(opts), C.byref(handle)) == DS_OK, lib.ds_last_error()
    for i in range(5):
        rgb = picture(i)
        status = lib.ds_pipeline_add_pixels(handle, i, C.byref(as_image(rgb)), b"boxes", f"item {i}".encode(), 0)
        assert status == DS_OK, lib.ds_last_error()
    yield handle
    lib.ds_pipeline_free(handle)


def test_version(lib):
    assert lib.ds_abi_version() == 2
    assert lib.ds_version_string().count(b".") == 2
    assert lib.ds_status_name(DS_ERR_NOT_FOUND) == b"NotFound"
    assert lib.ds_status_name(DS_ERR_OUT_OF_MEMORY) == b"OutOfMemory"
    assert lib.ds_status_name(DS_ERR_CONFLICT) == b"Conflict"


def test_a_shorter_struct_is_read_only_up_to_its_struct_size(lib, pipeline):
    options = ShortQueryOptions(C.sizeof(ShortQueryOptions), 2)
    results = C.c_void_p()
    assert lib.ds_pipeline_query_key(pipeline, 3, C.byref(options), C.byref(results)) == DS_OK, lib.ds_last_error()
    try:
        assert lib.ds_results_count(results) == 2
    finally:
        lib.ds_results_free(results)
    options.struct_size = 3
    assert lib.ds_pipeline_query_key(pipeline, 3, C.byref(options), C.byref(results)) == DS_ERR_INVALID_ARGUMENT
    assert b"ds_query_options.struct_size" in lib.ds_last_error()


def test_query_pixels_finds_the_same_image(lib, pipeline):
    rgb = picture(3)
    results = C.c_void_p()
    assert lib.ds_pipeline_query_pixels(pipeline, C.byref(as_image(rgb)), None, C.byref(results)) == DS_OK
    try:
        assert lib.ds_results_count(results) == 5
        first = Result()
        assert lib.ds_results_get(results, 0, C.byref(first)) == DS_OK
        assert first.key == 3 and first.label == b"item 3" and first.category == b"boxes" and first.distance < 1e-6
        keys, dists = (C.c_uint64 * 8)(), (C.c_float * 8)()
        assert lib.ds_results_copy(results, keys, dists, 8) == DS_OK
        assert list(keys)[:1] == [3] and keys[7] == DS_KEY_NONE and math.isinf(dists[7])
    finally:
        lib.ds_results_free(results)


def test_errors_are_codes_with_messages(lib, pipeline):
    rgb = picture(1)
    assert lib.ds_pipeline_add_pixels(pipeline, 1, C.byref(as_image(rgb)), b"boxes", None, 0) == DS_ERR_ALREADY_EXISTS
    assert b"1" in lib.ds_last_error()
    results = C.c_void_p()
    assert lib.ds_pipeline_query_bytes(pipeline, b"not an image", 12, None, C.byref(results)) == DS_ERR_IMAGE_DECODE
    assert lib.ds_last_error()
    assert lib.ds_pipeline_query_key(pipeline, 999, None, C.byref(results)) == DS_ERR_NOT_FOUND
    assert lib.ds_pipeline_remove(pipeline, 999) == DS_ERR_NOT_FOUND
    opts = PipelineOptions()  # struct_size 0: _init() not called
    handle = C.c_void_p()
    assert lib.ds_pipeline_create(C.byref(opts), C.byref(handle)) == DS_ERR_INVALID_ARGUMENT
    assert b"struct_size" in lib.ds_last_error()
    lib.ds_pipeline_options_init(C.byref(opts))
    opts.backbone_manifest = b"/nonexistent/backbone.json"
    assert lib.ds_pipeline_create(C.byref(opts), C.byref(handle)) == DS_ERR_IO


@pytest.fixture(scope="module")
def index_lib(lib):
    lib.ds_index_create.argtypes = [C.c_int, C.POINTER(C.c_void_p)]
    lib.ds_index_add_category.argtypes = [C.c_void_p, C.c_char_p, C.POINTER(C.c_int32)]
    lib.ds_index_add.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(C.c_uint64), C.POINTER(C.c_int32), C.POINTER(C.c_float),
                                 C.c_void_p]
    lib.ds_index_size.argtypes = [C.c_void_p, C.POINTER(C.c_size_t)]
    lib.ds_index_search.argtypes = [C.c_void_p, C.POINTER(C.c_float), C.c_size_t, C.c_size_t, C.POINTER(C.c_int32), C.c_size_t,
                                    C.c_void_p, C.c_void_p, C.POINTER(C.c_uint64), C.POINTER(C.c_float), C.POINTER(C.c_size_t)]
    lib.ds_index_free.argtypes = [C.c_void_p]
    return lib


def small_index(lib, keys):
    """A 4-d index holding `keys` (embeddings 0..4n-1 row by row) in one category; returns (handle, category id)."""
    index, category = C.c_void_p(), C.c_int32()
    assert lib.ds_index_create(4, C.byref(index)) == DS_OK, lib.ds_last_error()
    assert lib.ds_index_add_category(index, b"all", C.byref(category)) == DS_OK
    n = len(keys)
    vectors = (C.c_float * (4 * n))(*range(4 * n))
    status = lib.ds_index_add(index, n, (C.c_uint64 * n)(*keys), (C.c_int32 * n)(*[category.value] * n), vectors, None)
    assert status == DS_OK, lib.ds_last_error()
    return index, category.value


def test_the_no_result_key_is_refused_by_every_add(index_lib, pipeline):
    lib = index_lib
    rgb = picture(2)
    for upsert in (0, 1):
        status = lib.ds_pipeline_add_pixels(pipeline, DS_KEY_NONE, C.byref(as_image(rgb)), b"boxes", b"none", upsert)
        assert status == DS_ERR_INVALID_ARGUMENT and str(DS_KEY_NONE).encode() in lib.ds_last_error()
    size = C.c_size_t()
    assert lib.ds_pipeline_size(pipeline, C.byref(size)) == DS_OK and size.value == 5
    index, category = small_index(lib, [1, 2])
    try:
        keys = (C.c_uint64 * 2)(3, DS_KEY_NONE)
        status = lib.ds_index_add(index, 2, keys, (C.c_int32 * 2)(category, category), (C.c_float * 8)(), None)
        assert status == DS_ERR_INVALID_ARGUMENT and str(DS_KEY_NONE).encode() in lib.ds_last_error()
        assert lib.ds_index_size(index, C.byref(size)) == DS_OK and size.value == 2  # all or none
        assert lib.ds_index_add(index, 1, (C.c_uint64 * 1)(DS_KEY_NONE - 1), (C.c_int32 * 1)(category), (C.c_float * 4)(), None) == DS_OK
    finally:
        lib.ds_index_free(index)


def test_index_search_with_a_k_above_its_size(index_lib):
    lib = index_lib
    index, _ = small_index(lib, [10, 11, 12])
    try:
        query = (C.c_float * 8)(0, 1, 2, 3, 8, 9, 10, 11)  # the embeddings of keys 10 and 12
        k = 1000
        keys, dists, counts = (C.c_uint64 * (2 * k))(), (C.c_float * (2 * k))(), (C.c_size_t * 2)()
        assert lib.ds_index_search(index, query, 2, k, None, 0, None, None, keys, dists, counts) == DS_OK, lib.ds_last_error()
        assert list(counts) == [3, 3] and keys[0] == 10 and keys[k] == 12
        assert keys[3] == DS_KEY_NONE and keys[2 * k - 1] == DS_KEY_NONE and math.isinf(dists[2 * k - 1])
        size_max = 2**64 - 1
        for count, huge in ((1, size_max), (2, size_max // 2), (1, 2**62)):  # count x k entries cannot exist
            status = lib.ds_index_search(index, query, count, huge, None, 0, None, None, keys, dists, counts)
            assert status == DS_ERR_INVALID_ARGUMENT, lib.ds_last_error()  # not DS_ERR_INTERNAL (an allocation of k results)
            assert str(huge).encode() in lib.ds_last_error()
        assert lib.ds_index_search(index, query, 1, 0, None, 0, None, None, keys, dists, counts) == DS_ERR_INVALID_ARGUMENT  # k = 0
    finally:
        lib.ds_index_free(index)


def test_a_query_with_a_k_above_the_catalogue_lists_it(lib, pipeline):
    options = ShortQueryOptions(C.sizeof(ShortQueryOptions), 2**64 - 1)
    results = C.c_void_p()
    assert lib.ds_pipeline_query_key(pipeline, 3, C.byref(options), C.byref(results)) == DS_OK, lib.ds_last_error()
    try:
        assert lib.ds_results_count(results) == 4  # every other item
    finally:
        lib.ds_results_free(results)


def test_key_for_path_and_embedding_into_a_caller_buffer(lib, pipeline):
    lib.ds_key_for_path.argtypes = [C.c_char_p, C.POINTER(C.c_uint64)]
    lib.ds_pipeline_embed_pixels.argtypes = [C.c_void_p, C.POINTER(Image), C.POINTER(C.c_float), C.c_size_t, C.POINTER(C.c_size_t)]
    key = C.c_uint64()
    assert lib.ds_key_for_path(b"a", C.byref(key)) == DS_OK and key.value == 0x44BD8AD473CD9906  # Pipeline.key_for_path("a")
    assert lib.ds_key_for_path(None, C.byref(key)) == DS_ERR_INVALID_ARGUMENT
    rgb, dim = picture(3), C.c_size_t()
    # Capacity 0: a size query (DS_ERR_INVALID_ARGUMENT with the dimension), then the embedding itself.
    assert lib.ds_pipeline_embed_pixels(pipeline, C.byref(as_image(rgb)), None, 0, C.byref(dim)) == DS_ERR_INVALID_ARGUMENT
    assert dim.value > 0
    buf = (C.c_float * dim.value)()
    assert lib.ds_pipeline_embed_pixels(pipeline, C.byref(as_image(rgb)), buf, dim.value, C.byref(dim)) == DS_OK, lib.ds_last_error()
    assert dim.value == len(buf) and any(v != 0 for v in buf)
