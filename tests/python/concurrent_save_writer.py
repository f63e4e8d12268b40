"""One writer process of test_concurrent_saves.py (run as a script, never collected by pytest).

    python3 concurrent_save_writer.py DOOR WRITER ROUNDS FOLDER

DOOR is "python" (import domainsearch: Pipeline and Index) or "c" (the C ABI through ctypes only, from
DS_LIBRARY). Each round adds one new item with a key of its own, WRITER * 1000 + round, to
FOLDER/catalogue.dscat (open, add, save) and to FOLDER/index.dsidx (load, add, save); a save refused with
Conflict (another writer saved the file since this one read it) is retried from a fresh open, until it
succeeds. The writer waits for FOLDER/go before its first round, so that every writer starts at once, and
prints one JSON line: the keys of its successful saves and how many Conflicts it met."""
import json
import os
import random
import sys
import time

import numpy as np

DOOR, WRITER, ROUNDS, FOLDER = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
MODELS = os.environ["DS_TEST_MODEL_DIR"]
CATALOGUE, INDEX = os.path.join(FOLDER, "catalogue.dscat"), os.path.join(FOLDER, "index.dsidx")
MAX_TRIES = 400


def picture(key):
    rgb = np.full((48, 64, 3), 255, np.uint8)
    rgb[8 + key % 10:30 + key % 7, 6 + key % 17:50] = (key * 37 % 256, key * 91 % 256, 60)
    return rgb


def embedding(key):
    return np.full((1, 4), float(key % 101), np.float32)


class PythonDoor:
    def __init__(self):
        import domainsearch as ds
        self.ds = ds
        self.config = ds.PipelineConfig()
        self.config.backbone_manifest = os.path.join(MODELS, "backbone.json")
        self.config.segmenter_manifest = os.path.join(MODELS, "segmenter.json")
        self.config.localize = False
        self.config.threads = 1
        self.config.category_mode = "off"

    def _saved(self, save):
        try:
            save()
            return True
        except self.ds.Error as e:
            if e.status != "Conflict":
                raise
            return False

    def add_to_catalogue(self, key):
        pipeline = self.ds.Pipeline.open(CATALOGUE, self.config)
        pipeline.add(key, picture(key), "boxes", f"writer {WRITER}")
        return self._saved(lambda: pipeline.save(CATALOGUE))

    def add_to_index(self, key):
        index = self.ds.Index.load(INDEX)
        index.add([key], [0], embedding(key))
        return self._saved(lambda: index.save(INDEX))


class CDoor:
    def __init__(self):
        import ctypes as C
        from c_abi_types import DS_ERR_CONFLICT, DS_OK, Image, PipelineOptions
        self.C = C
        self.DS_OK, self.DS_ERR_CONFLICT = DS_OK, DS_ERR_CONFLICT
        lib = self.lib = C.CDLL(os.environ["DS_LIBRARY"])
        lib.ds_last_error.restype = C.c_char_p
        lib.ds_pipeline_open.argtypes = [C.c_char_p, C.POINTER(PipelineOptions), C.POINTER(C.c_void_p)]
        lib.ds_pipeline_add_pixels.argtypes = [C.c_void_p, C.c_uint64, C.POINTER(Image), C.c_char_p, C.c_char_p, C.c_int]
        lib.ds_pipeline_save.argtypes = [C.c_void_p, C.c_char_p]
        lib.ds_pipeline_free.argtypes = [C.c_void_p]
        lib.ds_index_load.argtypes = [C.c_char_p, C.POINTER(C.c_void_p)]
        lib.ds_index_add.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(C.c_uint64), C.POINTER(C.c_int32), C.POINTER(C.c_float),
                                     C.c_void_p]
        lib.ds_index_save.argtypes = [C.c_void_p, C.c_char_p]
        lib.ds_index_free.argtypes = [C.c_void_p]
        self.options = PipelineOptions()
        lib.ds_pipeline_options_init(C.byref(self.options))
        assert self.options.struct_size == C.sizeof(PipelineOptions), "the ctypes layout must match the C header"
        self.options.backbone_manifest = os.path.join(MODELS, "backbone.json").encode()
        self.options.threads = 1

    def _check(self, status, what):
        if status != self.DS_OK:
            raise RuntimeError(f"{what}: status {status}: {self.lib.ds_last_error().decode()}")

    def _saved(self, status, what):
        if status == self.DS_ERR_CONFLICT:
            return False
        self._check(status, what)
        return True

    def add_to_catalogue(self, key):
        C, lib = self.C, self.lib
        handle = C.c_void_p()
        self._check(lib.ds_pipeline_open(CATALOGUE.encode(), C.byref(self.options), C.byref(handle)), "ds_pipeline_open")
        try:
            from c_abi_types import as_image
            rgb = picture(key)
            image = as_image(rgb)
            self._check(lib.ds_pipeline_add_pixels(handle, key, C.byref(image), b"boxes", f"writer {WRITER}".encode(), 0),
                        "ds_pipeline_add_pixels")
            return self._saved(lib.ds_pipeline_save(handle, CATALOGUE.encode()), "ds_pipeline_save")
        finally:
            lib.ds_pipeline_free(handle)

    def add_to_index(self, key):
        C, lib = self.C, self.lib
        handle = C.c_void_p()
        self._check(lib.ds_index_load(INDEX.encode(), C.byref(handle)), "ds_index_load")
        try:
            vector = embedding(key)
            status = lib.ds_index_add(handle, 1, (C.c_uint64 * 1)(key), (C.c_int32 * 1)(0), vector.ctypes.data_as(C.POINTER(C.c_float)), None)
            self._check(status, "ds_index_add")
            return self._saved(lib.ds_index_save(handle, INDEX.encode()), "ds_index_save")
        finally:
            lib.ds_index_free(handle)


def until_saved(attempt, key, rng):
    """Runs attempt(key) until it saves; returns how many Conflicts it met."""
    for conflicts in range(MAX_TRIES):
        if attempt(key):
            return conflicts
        time.sleep(rng.uniform(0, 0.002 * min(conflicts + 1, 20)))  # a little jitter, so writers do not move in step
    raise SystemExit(f"writer {WRITER}: key {key} still in Conflict after {MAX_TRIES} tries")


def main():
    door = PythonDoor() if DOOR == "python" else CDoor()
    rng = random.Random(WRITER)
    open(os.path.join(FOLDER, f"ready-{WRITER}"), "w").close()
    deadline = time.monotonic() + 300
    while not os.path.exists(os.path.join(FOLDER, "go")):
        if time.monotonic() > deadline:
            raise SystemExit(f"writer {WRITER}: never told to go")
        time.sleep(0.01)
    saved = {"catalogue": [], "index": [], "conflicts": 0}
    for r in range(ROUNDS):
        key = WRITER * 1000 + r
        saved["conflicts"] += until_saved(door.add_to_catalogue, key, rng)
        saved["catalogue"].append(key)
        saved["conflicts"] += until_saved(door.add_to_index, key, rng)
        saved["index"].append(key)
    print(json.dumps(saved), flush=True)


if __name__ == "__main__":
    main()
