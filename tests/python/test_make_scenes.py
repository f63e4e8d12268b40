"""tools/make_scenes.py on a synthetic studio catalogue (three coloured products on white and one blank
image, written to a temporary folder): scenes.json follows its format; boxes lie inside the image, are at
least 24 px high and hold their product (its colour fills them, and every pixel of that colour lies in a
box of that label, so a box shifted by a product's width fails); visible >= 0.75; labels and categories come
from the manifest; identical copies stand side by side; empty scenes have no objects; the same seed gives
byte-identical output and another seed a different one. Needs numpy and cv2 only (no build, no dataset)."""
import csv
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "make_scenes.py")
# label -> (category, BGR colour): hues far apart and far from the procedural backgrounds' (greys, wood, pale trays).
ITEMS = {"green_box": ("boxes", (40, 170, 40)), "blue_disc": ("fruit", (200, 90, 20)),
         "magenta_bottle": ("drinks", (170, 40, 170))}
SIZE = (640, 480)


def studio_image(label):
    """160 x 160 white picture of one product; the box has a white window inside, which must stay."""
    image = np.full((160, 160, 3), 255, np.uint8)
    colour = ITEMS[label][1]
    if label == "green_box":
        cv2.rectangle(image, (40, 30), (120, 130), colour, -1)
        cv2.rectangle(image, (60, 60), (100, 90), (255, 255, 255), -1)
    elif label == "blue_disc":
        cv2.circle(image, (80, 80), 55, colour, -1)
    else:
        cv2.rectangle(image, (58, 45), (102, 145), colour, -1)
        cv2.rectangle(image, (72, 15), (88, 45), colour, -1)
    return image


def run_tool(manifest, out, *extra):
    done = subprocess.run([sys.executable, TOOL, "--manifest", str(manifest), "--out", str(out),
                           "--size", "x".join(map(str, SIZE)), "--objects", "6-10", *extra],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """The manifest of the synthetic catalogue: 3 products and one blank picture."""
    root = tmp_path_factory.mktemp("studio")
    (root / "images").mkdir()
    rows = [["path", "fine_label", "coarse_label", "split"]]
    for label, (category, _) in ITEMS.items():
        cv2.imwrite(str(root / "images" / f"{label}.png"), studio_image(label))
        rows.append([f"images/{label}.png", label, category, "iconic"])
    cv2.imwrite(str(root / "images" / "blank.png"), np.full((160, 160, 3), 255, np.uint8))
    rows.append(["images/blank.png", "blank", "nothing", "iconic"])
    with open(root / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def scenes(studio, tmp_path_factory):
    """6 mixed scenes, seed 3: (output folder, scenes.json, the tool's run)."""
    out = tmp_path_factory.mktemp("scenes")
    done = run_tool(studio, out, "--count", "6", "--seed", "3", "--empty-fraction", "0")
    return out, json.loads((out / "scenes.json").read_text()), done


def item_pixels(image, label):
    """Pixels of the product's hue, saturated and not dark."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int32)
    hue = int(cv2.cvtColor(np.uint8([[ITEMS[label][1]]]), cv2.COLOR_BGR2HSV)[0, 0, 0])
    distance = np.abs(hsv[..., 0] - hue)
    return (np.minimum(distance, 180 - distance) <= 12) & (hsv[..., 1] >= 100) & (hsv[..., 2] >= 60)


def test_cutout_keeps_white_inside_a_product():
    spec = importlib.util.spec_from_file_location("make_scenes", TOOL)
    make_scenes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_scenes)
    alpha = make_scenes.cutout(studio_image("green_box"))
    assert alpha[75, 80] > 0.99 and alpha[100, 50] > 0.99  # the white window and the green
    assert alpha[10, 10] == 0 and alpha[80, 140] == 0  # the background
    rows, cols = np.nonzero(alpha >= 0.5)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (31, 129, 41, 119)  # one pixel in from each edge


def test_scenes_json_follows_the_format(scenes, studio):
    out, document, done = scenes
    assert list(document) == ["version", "generator", "seed", "source_manifest", "scenes"]
    assert (document["version"], document["generator"], document["seed"]) == (1, "tools/make_scenes.py", 3)
    assert os.path.samefile(out / document["source_manifest"], studio)
    assert [s["path"] for s in document["scenes"]] == [f"scene_{i:04d}.jpg" for i in range(6)]
    assert {s["kind"] for s in document["scenes"]} == {"shelf", "tray"}  # seed 3 draws both
    for scene in document["scenes"]:
        assert list(scene) == ["path", "width", "height", "kind", "objects"]
        image = cv2.imread(str(out / scene["path"]))
        assert image.shape[:2] == (scene["height"], scene["width"]) == SIZE[::-1]
        assert 6 <= len(scene["objects"]) <= 10
        for o in scene["objects"]:
            assert list(o) == ["box", "label", "category", "visible"]
            assert len(o["box"]) == 4 and all(type(v) is int for v in o["box"])
    assert "blank.png" in done.stderr  # the blank picture's cutout is empty: skipped, said so


def test_boxes_are_inside_high_enough_visible_and_labelled_from_the_manifest(scenes):
    _, document, _ = scenes
    for scene in document["scenes"]:
        for o in scene["objects"]:
            x, y, w, h = o["box"]
            assert x >= 0 and y >= 0 and w >= 1 and x + w <= scene["width"] and y + h <= scene["height"]
            assert h >= 24
            assert 0.75 <= o["visible"] <= 1
            assert o["category"] == ITEMS[o["label"]][0]


def side_by_side(a, b):
    """Two boxes in one row, next to each other: their heights overlap by half, and the space between them
    is under a quarter of the narrower one."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    overlap = min(ay + ah, by + bh) - max(ay, by)
    space = max(ax, bx) - min(ax + aw, bx + bw)
    return overlap >= 0.5 * min(ah, bh) and space <= 0.25 * min(aw, bw)


def test_identical_copies_stand_side_by_side_as_separate_objects(scenes):
    _, document, done = scenes
    pairs = [(s["path"], a["label"]) for s in document["scenes"] for i, a in enumerate(s["objects"])
             for b in s["objects"][i + 1:] if a["label"] == b["label"] and side_by_side(a["box"], b["box"])]
    assert pairs
    summary = done.stdout.strip()
    assert "\n" not in summary and summary.startswith("make_scenes: 6 scenes")
    objects = sum(len(s["objects"]) for s in document["scenes"])
    assert f"{objects} objects" in summary and "identical copies side by side" in summary


def test_boxes_hold_their_product(scenes):
    """Each box is mostly its product's colour, and (nearly) all of that colour lies in the boxes of that label:
    a box moved by a product's width fails one or the other, even onto an identical neighbour."""
    out, document, _ = scenes
    for scene in document["scenes"]:
        image = cv2.imread(str(out / scene["path"]))
        for label in ITEMS:
            colour = item_pixels(image, label)
            in_boxes = np.zeros_like(colour)
            for o in (o for o in scene["objects"] if o["label"] == label):
                x, y, w, h = o["box"]
                assert colour[y:y + h, x:x + w].mean() >= 0.35, (scene["path"], o)
                in_boxes[max(0, y - 2):y + h + 2, max(0, x - 2):x + w + 2] = True
            assert (colour & ~in_boxes).sum() <= 0.01 * max(1, colour.sum()) + 20, (scene["path"], label)


def test_csv_has_one_row_per_object(scenes):
    out, document, _ = scenes
    with open(out / "scenes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [(s["path"], o["label"], *map(str, o["box"]), str(o["visible"]))
                for s in document["scenes"] for o in s["objects"]]
    assert [tuple(r[k] for k in ("path", "label", "x", "y", "w", "h", "visible")) for r in rows] == expected


def test_same_seed_same_output_other_seed_different(scenes, studio, tmp_path_factory):
    """Output folders beside the first one, so that source_manifest (relative to the folder) is the same."""
    out, _, _ = scenes
    again, other = tmp_path_factory.mktemp("again"), tmp_path_factory.mktemp("other")
    run_tool(studio, again, "--count", "6", "--seed", "3", "--empty-fraction", "0")
    run_tool(studio, other, "--count", "6", "--seed", "4", "--empty-fraction", "0")
    for name in ["scenes.json", "scenes.csv"] + [f"scene_{i:04d}.jpg" for i in range(6)]:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    assert (other / "scenes.json").read_bytes() != (out / "scenes.json").read_bytes()


def test_empty_scenes_have_no_objects(studio, tmp_path):
    run_tool(studio, tmp_path, "--count", "3", "--seed", "5", "--empty-fraction", "1")
    document = json.loads((tmp_path / "scenes.json").read_text())
    assert [(s["kind"], s["objects"]) for s in document["scenes"]] == [("empty", [])] * 3
    for scene in document["scenes"]:
        image = cv2.imread(str(tmp_path / scene["path"]))
        assert not any(item_pixels(image, label).any() for label in ITEMS)
    assert (tmp_path / "scenes.csv").read_text().splitlines() == ["path,label,x,y,w,h,visible"]


@pytest.mark.parametrize("option, value, allowed", [("--labels", "green_box,blue_disc", {"green_box", "blue_disc"}),
                                                    ("--exclude-labels", "green_box", {"blue_disc", "magenta_bottle"})])
def test_label_filters(studio, tmp_path, option, value, allowed):
    run_tool(studio, tmp_path, "--count", "2", "--seed", "6", "--empty-fraction", "0", option, value)
    document = json.loads((tmp_path / "scenes.json").read_text())
    labels = {o["label"] for s in document["scenes"] for o in s["objects"]}
    assert labels and labels <= allowed
