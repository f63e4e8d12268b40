"""Shared by the Python tests: pictures the tiny test models tell apart, and a configuration naming those
models (DS_TEST_MODEL_DIR, written by `unit_tests "[.write-test-models]"`). Not a test module."""
import os

import numpy as np

import domainsearch as ds

MODELS = os.environ.get("DS_TEST_MODEL_DIR")


def picture(i):
    """A 64x48 white picture with one coloured box, different for each i in 0..5."""
    rgb = np.full((48, 64, 3), 255, np.uint8)
    rgb[10:20 + 3 * i, 8:20 + 5 * i] = (30 * i, 200 - 30 * i, 60)
    return rgb


def make_config(localize=False):
    """The tiny backbone and segmenter, one thread, category mode off."""
    config = ds.PipelineConfig()
    config.backbone_manifest = os.path.join(MODELS, "backbone.json")
    config.segmenter_manifest = os.path.join(MODELS, "segmenter.json")
    config.localize = localize
    config.threads = 1
    config.category_mode = "off"
    return config
