#!/usr/bin/python3
"""Synthetic multi-product scenes (shelves and trays) with known boxes and identities, for developing and
measuring "find every product in a photo" (object detection plus identification against a catalogue).

  /usr/bin/python3 tools/make_scenes.py --manifest CATALOGUE.csv --out DIR [--count 100] [--seed 0]
      [--kind shelf|tray|mixed] [--size 1152x864] [--objects 20-40] [--empty-fraction 0.05]
      [--labels A,B,...] [--exclude-labels A,B,...]

Input: a manifest CSV with the header path,fine_label,coarse_label[,split] (a grocery manifest) or
path,label,category (a libdomainsearch catalogue CSV), paths relative to the CSV's folder, one studio image per row: one product on a white background. Each product is cut out: the background is the
near-white region flood-filled from the image border (so white parts inside a product stay), the rest is
closed morphologically, components under 0.3% of the frame are dropped, the edge is shrunk by a pixel (the
source's light fringe) and feathered by about a pixel. Images whose cutout is empty or nearly the whole frame
are skipped with a message on stderr.
--labels keeps only the listed fine labels, --exclude-labels drops the listed ones.

Output in DIR (created if missing; files of earlier runs are overwritten, never deleted):
  scene_0000.jpg, ...  the scenes, JPEG quality 80-95, --size pixels (width x height)
  scenes.json          {"version": 1, "generator": "tools/make_scenes.py", "seed": S,
                        "source_manifest": the manifest's path,
                        "scenes": [{"path": "scene_0000.jpg", "width": W, "height": H,
                                    "kind": "shelf" | "tray" | "empty",
                                    "objects": [{"box": [x, y, w, h], "label": fine_label,
                                                 "category": coarse_label, "visible": 0.93}, ...]}, ...]}
  scenes.csv           path,label,x,y,w,h,visible: one row per object, for spreadsheets
Paths in scenes.json (source_manifest included) are relative to DIR. box: the pasted product's tight box
(alpha >= 0.5, occluded parts included) in scene pixels: integers, top-left corner x, y then width, height,
inside the image, height >= 24. visible: the fraction of that mask not covered by products pasted in front of
it, 3 decimals, >= 0.75 (a placement that would cover more is rejected). Objects are listed in paste order
(later = in front).

Scenes: each scene draws a number of products from --objects. A shelf scene has 2-4 boards (a darker band
with a lighter price strip), spaced so that full rows would hold about that number; the rows are filled left
to right, in random order, until the number is reached or every row is full (so a scene can hold fewer).
Products stand on the board, their height U(0.70, 0.92) of the shelf gap per run and +-8% per product, aspect
kept; the space to the left neighbour is U(-0.12, 0.05) of the product's width (negative: overlap, the later
product in front). A tray scene has a rounded tray on a darker table and the products in a loose grid,
touching, rotated by up to +-10 degrees. Both place runs of 1-4 identical copies of one item side by side:
each copy is its own object. An empty scene (--empty-fraction of the scenes) is a shelf or tray background
without products. Each product gets a small perspective warp (corners moved by up to 4% of its size) and
brightness, contrast, gamma and colour-cast jitter; each scene an illumination gradient, Gaussian noise and
sometimes a mild blur. Backgrounds are procedural.

Deterministic: the same arguments and input images give byte-identical output (scenes.json's source_manifest,
relative to DIR, differs only between output folders at different places relative to the manifest); one
numpy.random.default_rng(--seed) draws every random choice. Prints a one-line summary at the end.
"""
import argparse
import csv
import json
import math
import os
import sys
from dataclasses import dataclass, field

import cv2
import numpy as np

MIN_VISIBLE = 0.75
MIN_BOX_HEIGHT = 24
RUN_LENGTHS = (1, 2, 3, 4)
RUN_WEIGHTS = (0.3, 0.3, 0.25, 0.15)
SHELF_HEIGHT_RANGE = (0.70, 0.92)  # product height / shelf gap
SHELF_SPACING_RANGE = (-0.12, 0.05)  # space before a product / its width; negative = overlap
TRAY_MAX_DEGREES = 10.0
# BGR colours. Walls: light greys and whites, then wood tones (with grain).
WALL_COLOURS = (((238, 238, 236), False), ((224, 226, 228), False), ((206, 206, 201), False),
                ((246, 247, 249), False), ((170, 200, 222), True), ((140, 175, 205), True), ((118, 158, 198), True))
BOARD_COLOURS = ((70, 70, 72), (96, 96, 100), (45, 65, 95), (60, 85, 120), (40, 40, 42))
PRICE_STRIP_COLOURS = ((236, 238, 240), (205, 214, 220), (150, 222, 238))
TRAY_COLOURS = ((238, 238, 236), (205, 208, 210), (200, 186, 166), (62, 62, 64), (190, 212, 228),
                (176, 200, 182), (214, 200, 210))
TABLE_COLOURS = ((60, 75, 95), (45, 50, 58), (80, 80, 78), (35, 55, 80), (96, 106, 116))


@dataclass(eq=False)
class Product:
    """One catalogue image cut out of its background, cropped to the cutout (compared by identity)."""
    label: str
    category: str
    bgr: np.ndarray  # float32, H x W x 3
    alpha: np.ndarray  # float32 in [0, 1], H x W


@dataclass
class Canvas:
    """A scene being composed: the image (float32 BGR), the index of the front-most product at each pixel
    (-1: none), and per placed product its record, mask area and pixels still visible."""
    image: np.ndarray
    owner: np.ndarray = None
    objects: list = field(default_factory=list)
    areas: list = field(default_factory=list)
    visible_pixels: list = field(default_factory=list)
    side_by_side_pairs: int = 0

    def __post_init__(self):
        self.owner = np.full(self.image.shape[:2], -1, np.int32)

    def place(self, product, bgr, alpha, x, y):
        """Pastes a posed product with its crop's top-left corner at (x, y); False (nothing changed) if it
        leaves the image, its box is under MIN_BOX_HEIGHT or it would leave an earlier product under
        MIN_VISIBLE."""
        height, width = alpha.shape
        if x < 0 or y < 0 or x + width > self.image.shape[1] or y + height > self.image.shape[0]:
            return False
        mask = alpha >= 0.5
        rows, cols = np.nonzero(mask)
        if rows.size == 0 or rows.max() - rows.min() + 1 < MIN_BOX_HEIGHT:
            return False
        owners = self.owner[y:y + height, x:x + width]
        covered = np.bincount(owners[mask] + 1, minlength=len(self.objects) + 1)[1:]
        remaining = np.array(self.visible_pixels, np.int64) - covered
        if np.any(remaining < MIN_VISIBLE * np.array(self.areas)):
            return False
        self.visible_pixels = remaining.tolist() + [int(rows.size)]
        self.areas.append(int(rows.size))
        owners[mask] = len(self.objects)
        region = self.image[y:y + height, x:x + width]
        region += (bgr - region) * alpha[..., None]
        box = [x + int(cols.min()), y + int(rows.min()), int(cols.max() - cols.min() + 1),
               int(rows.max() - rows.min() + 1)]
        self.objects.append({"box": box, "label": product.label, "category": product.category})
        return True

    def records(self):
        """The objects for scenes.json, with their visible fraction."""
        return [dict(o, visible=round(v / a, 3)) for o, v, a in zip(self.objects, self.visible_pixels, self.areas)]


# ---------------------------------------------------------------- catalogue


def cutout(image):
    """Alpha (float32, 0-1) of the product in a studio image: not near-white-connected-to-the-border,
    closed, small components dropped, shrunk by a pixel, edge feathered inwards."""
    height, width = image.shape[:2]
    near_white = (image.min(axis=2) >= 235).astype(np.uint8)
    _, regions = cv2.connectedComponents(near_white, connectivity=4)
    border = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
    background = np.isin(regions, np.unique(border[border > 0]))
    mask = (~background).astype(np.uint8)
    size = max(3, round(min(height, width) / 40) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    count, parts, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    large = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 0.003 * height * width]
    mask = cv2.erode(np.isin(parts, large).astype(np.float32), np.ones((3, 3), np.uint8))  # drops the white fringe
    return cv2.GaussianBlur(mask, (0, 0), 0.7) * mask


def tight_crop(bgr, alpha, threshold=0.02):
    """bgr and alpha cropped to the pixels with alpha > threshold."""
    rows, cols = np.nonzero(alpha > threshold)
    box = slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)
    return bgr[box], alpha[box]


def load_product(root, row):
    """The Product of one manifest row, or None (with a message on stderr) if unusable."""
    path = os.path.join(root, row["path"])
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        print(f"make_scenes: skipping {path}: unreadable", file=sys.stderr)
        return None
    alpha = cutout(image)
    coverage = float((alpha >= 0.5).mean())
    if coverage < 0.01 or coverage > 0.95:
        print(f"make_scenes: skipping {path}: its cutout covers {coverage:.1%} of the frame", file=sys.stderr)
        return None
    bgr, alpha = tight_crop(image.astype(np.float32), alpha)
    return Product(row["fine_label"], row["coarse_label"], bgr, alpha)


def normalised_row(row):
    """A row of either manifest kind with fine_label and coarse_label (a catalogue CSV's label and category)."""
    if "fine_label" not in row:
        row = {**row, "fine_label": row.get("label"), "coarse_label": row.get("category")}
    return row


def load_catalogue(manifest, only, excluded):
    """The usable Products of the manifest whose fine label is in `only` (if given) and not in `excluded`."""
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        rows = [normalised_row(r) for r in reader]
    columns = set(reader.fieldnames or ())
    if "path" not in columns or not ({"fine_label", "coarse_label"} <= columns or {"label", "category"} <= columns):
        sys.exit(f"make_scenes: {manifest} needs the columns path,fine_label,coarse_label (a grocery manifest) "
                 "or path,label,category (a libdomainsearch catalogue CSV)")
    root = os.path.dirname(os.path.abspath(manifest))
    chosen = [r for r in rows if (not only or r["fine_label"] in only) and r["fine_label"] not in excluded]
    for label in sorted(only - {r["fine_label"] for r in rows}):
        print(f"make_scenes: --labels {label}: not in {manifest}", file=sys.stderr)
    catalogue = [p for p in (load_product(root, r) for r in chosen) if p is not None]
    if not catalogue:
        sys.exit(f"make_scenes: no usable product images in {manifest}")
    return catalogue


def item_sequence(catalogue, rng):
    """Endless (product, continues_run): runs of 1-4 identical copies of one random product."""
    while True:
        product = catalogue[rng.integers(len(catalogue))]
        for copy in range(rng.choice(RUN_LENGTHS, p=RUN_WEIGHTS)):
            yield product, copy > 0


# ---------------------------------------------------------------- products


def jitter_colours(bgr, rng):
    """Gamma, contrast, brightness and a slight per-channel colour cast."""
    gamma, contrast = rng.uniform(0.85, 1.2), rng.uniform(0.85, 1.15)
    brightness, cast = rng.uniform(-18, 18), rng.uniform(0.94, 1.06, 3).astype(np.float32)
    out = 255.0 * (bgr / 255.0) ** gamma
    out = ((out - 128.0) * contrast + 128.0 + brightness) * cast
    return np.clip(out, 0, 255).astype(np.float32)


def posed(product, max_degrees, rng):
    """The product's colours jittered, rotated by up to max_degrees and warped in perspective (each corner
    moved by up to 4% of the size), cropped: (bgr, alpha) at about the catalogue image's scale."""
    height, width = product.alpha.shape
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    angle = math.radians(rng.uniform(-max_degrees, max_degrees))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = np.array([width / 2, height / 2])
    moved = (corners - centre) @ rotation.T + centre + rng.uniform(-0.04, 0.04, (4, 2)) * [width, height]
    moved -= moved.min(axis=0)
    size = tuple(int(math.ceil(v)) + 1 for v in moved.max(axis=0))
    warp = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    bgr = cv2.warpPerspective(jitter_colours(product.bgr, rng), warp, size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpPerspective(product.alpha, warp, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return tight_crop(bgr, alpha)


def resized(bgr, alpha, width, height):
    """bgr and alpha resized to width x height (area averaging when shrinking)."""
    method = cv2.INTER_AREA if width < alpha.shape[1] else cv2.INTER_LINEAR
    return (cv2.resize(bgr, (width, height), interpolation=method),
            cv2.resize(alpha, (width, height), interpolation=method))


# ---------------------------------------------------------------- backgrounds


def noise_field(height, width, cells, rng):
    """Smooth noise of unit spread: normal values on a cells = (rows, columns) grid, resized up bicubically."""
    grid = rng.normal(size=cells).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def textured(height, width, colour, grain, rng):
    """A float32 BGR surface of the colour with blotchy and fine noise, plus horizontal wood grain if asked."""
    shade = 6 * noise_field(height, width, (4, 5), rng) + 2.5 * rng.normal(size=(height, width)).astype(np.float32)
    if grain:
        shade += 9 * noise_field(height, width, (max(2, height // 6), 3), rng)
    image = np.empty((height, width, 3), np.float32)
    image[:] = colour
    return image + shade[..., None]


def pick(colours, rng):
    """One of the colours, at random."""
    return colours[rng.integers(len(colours))]


def draw_board(image, top, thickness, colours, rng):
    """One shelf board from row `top` down: a darker band, a lighter top edge, a price strip with tags along its
    lower part and a soft shadow on the wall below."""
    height, width = image.shape[:2]
    board_colour, strip_colour = colours
    image[top:top + thickness] = board_colour
    image[top:top + max(2, thickness // 5)] *= 1.3
    strip_top = top + thickness - max(3, round(0.45 * thickness))
    image[strip_top:top + thickness] = strip_colour
    x = int(rng.integers(10, 80))
    while x < width - 10:
        tag_width = int(rng.integers(max(8, width // 40), max(9, width // 18)))
        image[strip_top + 1:top + thickness - 1, x:x + tag_width] = (248, 248, 248)
        image[top + thickness - 4:top + thickness - 2, x + 3:x + tag_width // 2] = (40, 40, 40)
        x += tag_width + int(rng.integers(width // 20, width // 6))
    shadow = min(height - top - thickness, max(4, thickness // 2))
    image[top + thickness:top + thickness + shadow] *= np.linspace(0.75, 1.0, shadow, dtype=np.float32)[:, None, None]


def shelf_rows(budget, aspect, width, height):
    """(gap, board thickness, shelf count) for 2-4 shelves: the most shelves whose gap, sized so that the rows
    hold about `budget` products of mean width/height `aspect`, fits the height; else 2 shelves as large as fit."""
    step = np.mean(SHELF_HEIGHT_RANGE) * aspect * (1 + np.mean(SHELF_SPACING_RANGE))  # mean product step / gap
    for count in (4, 3, 2):
        gap = 0.96 * width / ((math.ceil(budget / count) + 0.5) * step)
        board = max(12, round(0.1 * gap))
        if count * (gap + board) <= 0.97 * height:
            return int(gap), board, count
    board = max(12, round(0.1 * height / 2))
    return int(0.97 * height / 2 - board), board, 2


def shelf_background(width, height, gap, board, count, rng):
    """Wall, boards and plinth of a shelf scene: the float32 image and the y of each board's top."""
    colour, grain = pick(WALL_COLOURS, rng)
    image = textured(height, width, colour, grain, rng)
    unit = count * (gap + board)
    top = int(rng.uniform(0.2, 0.6) * (height - unit))
    board_tops = [top + (k + 1) * gap + k * board for k in range(count)]
    colours = pick(BOARD_COLOURS, rng), pick(PRICE_STRIP_COLOURS, rng)
    plinth = board_tops[-1] + board
    image[plinth:] = textured(height - plinth, width, colours[0], False, rng) * 0.8
    for board_top in board_tops:
        draw_board(image, board_top, board, colours, rng)
    return image, board_tops


def rounded_rectangle(height, width, box, radius):
    """uint8 mask of a rectangle (x0, y0, x1, y1) with rounded corners."""
    x0, y0, x1, y1 = box
    mask = np.zeros((height, width), np.uint8)
    cv2.rectangle(mask, (x0 + radius, y0), (x1 - radius, y1), 1, -1)
    cv2.rectangle(mask, (x0, y0 + radius), (x1, y1 - radius), 1, -1)
    for cx, cy in ((x0 + radius, y0 + radius), (x1 - radius, y0 + radius), (x0 + radius, y1 - radius),
                   (x1 - radius, y1 - radius)):
        cv2.circle(mask, (cx, cy), radius, 1, -1)
    return mask


def tray_background(width, height, rng):
    """A table with a rounded tray on it (soft shadow, uniform colour, slightly darker rim): the float32 image
    and the tray's inner rectangle (x0, y0, x1, y1) for the products."""
    image = textured(height, width, pick(TABLE_COLOURS, rng), rng.random() < 0.5, rng)
    margin_x, margin_y = (int(rng.uniform(0.03, 0.09) * s) for s in (width, height))
    box = (margin_x, margin_y, width - 1 - margin_x, height - 1 - margin_y)
    radius = int(rng.uniform(0.04, 0.1) * min(box[2] - box[0], box[3] - box[1]))
    mask = rounded_rectangle(height, width, box, radius)
    shadow = cv2.GaussianBlur(np.roll(mask, (height // 80, width // 120), (0, 1)).astype(np.float32), (0, 0), 6)
    image *= 1 - 0.4 * shadow[..., None]
    rim = max(3, min(width, height) // 120)
    inner = cv2.erode(mask, np.ones((2 * rim + 1, 2 * rim + 1), np.uint8))
    tray = textured(height, width, pick(TRAY_COLOURS, rng), False, rng)
    tray[(mask > 0) & (inner == 0)] *= 0.82
    image[mask > 0] = tray[mask > 0]
    inset = rim + radius // 3
    return image, (box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset)


# ---------------------------------------------------------------- layouts


def fill_shelf_row(canvas, items, board_top, gap, quota, rng):
    """Products standing on one board, left to right, until `quota` are placed or the row is full (3 items in
    a row too wide for the space left): the number placed."""
    width = canvas.image.shape[1]
    right_edge, previous, run_height, placed, misfits = int(rng.uniform(0.005, 0.03) * width), None, None, 0, 0
    for _ in range(4 * quota):
        if placed == quota or misfits == 3:
            break
        product, continues = next(items)
        if not continues or run_height is None:
            run_height = rng.uniform(*SHELF_HEIGHT_RANGE) * gap
        bgr, alpha = posed(product, 0, rng)
        height = int(round(run_height * rng.uniform(0.92, 1.08)))
        bgr, alpha = resized(bgr, alpha, max(1, round(alpha.shape[1] * height / alpha.shape[0])), height)
        spacings = (rng.uniform(*SHELF_SPACING_RANGE), rng.uniform(0, SHELF_SPACING_RANGE[1]))
        x = right_edge if previous is None else right_edge + int(round(spacings[0] * alpha.shape[1]))
        misfits = misfits + 1 if x + alpha.shape[1] > width - 4 else 0
        fits = not misfits and canvas.place(product, bgr, alpha, x, board_top - height)
        if not misfits and not fits and previous is not None:  # too much overlap: touch or leave a space
            x = right_edge + int(round(spacings[1] * alpha.shape[1]))
            fits = canvas.place(product, bgr, alpha, x, board_top - height)
        if fits:
            canvas.side_by_side_pairs += continues and previous is product
            right_edge, previous, placed = x + alpha.shape[1], product, placed + 1
    return placed


def shelf_scene(catalogue, width, height, budget, rng, empty):
    """A shelf scene for `budget` products (none if empty): rows filled one after the other, in random order,
    until the budget is used or every row is full."""
    aspect = float(np.mean([p.alpha.shape[1] / p.alpha.shape[0] for p in catalogue]))
    gap, board, count = shelf_rows(budget, aspect, width, height)
    image, board_tops = shelf_background(width, height, gap, board, count, rng)
    canvas = Canvas(image)
    items = item_sequence(catalogue, rng)
    left = 0 if empty else budget
    for row in rng.permutation(count):  # so that the partly filled row, if any, can be any row
        if left > 0:
            left -= fill_shelf_row(canvas, items, board_tops[row], gap, left, rng)
    return canvas


def place_in_cell(canvas, product, cell, inner, rng):
    """One posed, rotated product about the centre of a tray cell (x, y, width, height), fitted to the cell
    and kept inside the tray; smaller on each retry if it would cover a neighbour too much. True if placed."""
    bgr, alpha = posed(product, TRAY_MAX_DEGREES, rng)
    cell_x, cell_y, cell_w, cell_h = cell
    centre = cell_x + cell_w * rng.uniform(0.44, 0.56), cell_y + cell_h * rng.uniform(0.44, 0.56)
    first_fit = rng.uniform(0.95, 1.12)
    for fit in (first_fit, 0.85 * first_fit, 0.7 * first_fit):
        scale = min(fit * cell_w / alpha.shape[1], fit * cell_h / alpha.shape[0],
                     (inner[2] - inner[0]) / alpha.shape[1], (inner[3] - inner[1]) / alpha.shape[0])
        size = max(1, int(alpha.shape[1] * scale)), max(1, int(alpha.shape[0] * scale))
        sized_bgr, sized_alpha = resized(bgr, alpha, *size)
        x = int(np.clip(round(centre[0] - sized_alpha.shape[1] / 2), inner[0], inner[2] - sized_alpha.shape[1]))
        y = int(np.clip(round(centre[1] - sized_alpha.shape[0] / 2), inner[1], inner[3] - sized_alpha.shape[0]))
        if canvas.place(product, sized_bgr, sized_alpha, x, y):
            return True
    return False


def tray_scene(catalogue, width, height, budget, rng, empty):
    """A tray scene: `budget` products (none if empty) in a loose grid of cells, row by row."""
    image, inner = tray_background(width, height, rng)
    canvas = Canvas(image)
    if empty:
        return canvas
    tray_w, tray_h = inner[2] - inner[0], inner[3] - inner[1]
    columns = max(1, round(math.sqrt(budget * tray_w / tray_h)))
    rows = math.ceil(budget / columns)
    cell_w, cell_h = tray_w / columns, tray_h / rows
    items, previous = item_sequence(catalogue, rng), None
    for cell in np.sort(rng.choice(rows * columns, size=budget, replace=False)):
        row, column = divmod(int(cell), columns)
        product, continues = next(items)
        box = (inner[0] + column * cell_w, inner[1] + row * cell_h, cell_w, cell_h)
        if place_in_cell(canvas, product, box, inner, rng):
            canvas.side_by_side_pairs += continues and previous == (product, row, column - 1)
            previous = product, row, column
    return canvas


# ---------------------------------------------------------------- scenes and files


def finished(image, rng):
    """The scene as uint8: an illumination gradient, Gaussian noise and, for 30% of scenes, a mild blur."""
    height, width = image.shape[:2]
    angle, strength = rng.uniform(0, 2 * math.pi), rng.uniform(0.05, 0.2)
    ys, xs = np.mgrid[-1:1:height * 1j, -1:1:width * 1j].astype(np.float32)
    image = image * (1 + strength * (xs * math.cos(angle) + ys * math.sin(angle)) / math.sqrt(2))[..., None]
    image += rng.normal(0, rng.uniform(1.5, 5), image.shape).astype(np.float32)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.2))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_scene(catalogue, args, rng):
    """(uint8 image, scenes.json record without its path, identical side-by-side pairs) of one scene."""
    width, height = args.size
    layout = args.kind if args.kind != "mixed" else ("shelf", "tray")[rng.integers(2)]
    empty = rng.random() < args.empty_fraction
    budget = int(rng.integers(args.objects[0], args.objects[1] + 1))
    canvas = (shelf_scene if layout == "shelf" else tray_scene)(catalogue, width, height, budget, rng, empty)
    record = {"width": width, "height": height, "kind": "empty" if empty else layout, "objects": canvas.records()}
    return finished(canvas.image, rng), record, canvas.side_by_side_pairs


def write_outputs(out, scenes, args):
    """scenes.json and scenes.csv."""
    document = {"version": 1, "generator": "tools/make_scenes.py", "seed": args.seed,
                "source_manifest": os.path.relpath(os.path.abspath(args.manifest), os.path.abspath(out)),
                "scenes": scenes}
    with open(os.path.join(out, "scenes.json"), "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "scenes.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "x", "y", "w", "h", "visible"])
        for scene in scenes:
            for o in scene["objects"]:
                writer.writerow([scene["path"], o["label"], *o["box"], o["visible"]])


def parse_range(text):
    low, _, high = text.partition("-")
    low, high = int(low), int(high or low)
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH with 1 <= LOW <= HIGH, got {text}")
    return low, high


def parse_size(text):
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) >= 64 and int(height) >= 64):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT of at least 64x64, got {text}")
    return int(width), int(height)


def label_set(text):
    return {s.strip() for s in text.split(",") if s.strip()}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="CSV: path,fine_label,coarse_label,split")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--count", type=int, default=100, help="number of scenes (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--kind", choices=("shelf", "tray", "mixed"), default="mixed")
    parser.add_argument("--size", type=parse_size, default=(1152, 864), help="WIDTHxHEIGHT (default 1152x864)")
    parser.add_argument("--objects", type=parse_range, default=(20, 40), help="products per scene (default 20-40)")
    parser.add_argument("--empty-fraction", type=float, default=0.05, help="share of empty scenes (default 0.05)")
    parser.add_argument("--labels", type=label_set, default=set(), help="comma list: only these fine labels")
    parser.add_argument("--exclude-labels", type=label_set, default=set(), help="comma list: not these fine labels")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    catalogue = load_catalogue(args.manifest, args.labels, args.exclude_labels)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    scenes, pairs = [], 0
    for index in range(args.count):
        image, record, scene_pairs = make_scene(catalogue, args, rng)
        path = f"scene_{index:04d}.jpg"
        quality = int(rng.integers(80, 96))
        if not cv2.imwrite(os.path.join(args.out, path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            sys.exit(f"make_scenes: cannot write {os.path.join(args.out, path)}")
        scenes.append({"path": path, **record})
        pairs += scene_pairs
    write_outputs(args.out, scenes, args)
    objects = sum(len(s["objects"]) for s in scenes)
    empty = sum(s["kind"] == "empty" for s in scenes)
    print(f"make_scenes: {len(scenes)} scenes ({empty} empty), {objects} objects, "
          f"{objects / max(1, len(scenes)):.1f} per scene, {pairs} identical copies side by side (pairs) -> {args.out}")


if __name__ == "__main__":
    main()
