#!/usr/bin/python3
"""Trains the object finder of libdomainsearch: a small class-agnostic box head (CenterNet style: a
product-centre heat map, the centre's sub-cell offset and the box's size) on the frozen feature maps of the
fine-tunable MobileNetV2, from synthetic scenes with known boxes (tools/make_scenes.py). No pretrained detector
weights are needed: the backbone is ../shared/models' ImageNet MobileNetV2; only the head (~0.4 M values) is
learned, so the finder knows "a product" rather than any one product.

  /usr/bin/python3 tools/train_object_finder.py --scenes DIR/scenes.json [--scenes DIR2/scenes.json ...]
      --backbone ../shared/models/mobilenet_v2_1.0_224_trainable.pt --out OUT_DIR
      [--input 1024x768] [--epochs 40] [--seed 0] [--threads 2] [--flip-average]
  /usr/bin/python3 tools/train_object_finder.py --head OUT_DIR/head.pt --backbone ... --out OUT2 --flip-average

Writes OUT_DIR/object_finder.pt (TorchScript: the backbone's stages 0-18 and the head, traced at --input) and
OUT_DIR/head.pt (the trained head, to export again with --head) and OUT_DIR/object_finder.json, its model manifest (format torchscript, RGB 0..255 input of --input pixels, output
"objects" [1, 5, H/16, W/16]: channel 0 the centre probability, 1-2 the centre's offset inside its cell in
cells (0..1, x then y), 3-4 log(width / 16) and log(height / 16) of the box in input pixels). Point a
configuration's "object_finder" at the manifest. A photo of any size is resized to --input (aspect not kept);
the boxes scale back with it. --flip-average exports a finder that also runs on the mirrored photo and
averages the two outputs (mirrored back), for twice the time.

Training: each scene is resized to --input, its frozen maps (stage 13, 96 channels at stride 16; stage 18,
1280 channels at stride 32) computed once; the head is trained with the focal loss on Gaussian centre targets
(radius from the box size, as CenterNet) and L1 losses on offset and size at the centres, Adam, horizontal
flips. Deterministic for a seed and thread count. Prints the loss per epoch and the time.
"""
import argparse
import json
import math
import os
import time

import cv2
import numpy as np
import torch
from torch import nn

from model_files import sha256

STRIDE = 16


class BoxHead(nn.Module):
    """Stage-13 maps (96 ch, stride 16) and stage-18 maps (1280 ch, stride 32) -> [B, 5, H/16, W/16] (raw)."""

    def __init__(self):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(1280, 96, 1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(192, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, 96, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(96, 5, 1)
        nn.init.constant_(self.out.bias, 0.0)
        with torch.no_grad():
            self.out.bias[0] = -4.6  # a centre is rare: start at p = 0.01 (CenterNet's prior)

    def forward(self, y13, y18):
        up = nn.functional.interpolate(self.reduce(y18), size=y13.shape[-2:], mode="nearest")
        return self.out(self.body(torch.cat([y13, up], 1)))


class ObjectFinder(nn.Module):
    """RGB 0..255 [B, 3, H, W] -> [B, 5, H/16, W/16]: centre probability, offsets, log sizes (see the docstring)."""

    def __init__(self, backbone, head, flip_average=False):
        super().__init__()
        self.backbone, self.head, self.flip_average = backbone, head, flip_average

    def forward(self, x):
        raw = self.head(*frozen_maps(self.backbone, x))
        if self.flip_average:  # the mirrored photo's output mirrored back: a cell's x offset o becomes 1 - o
            mirrored = torch.flip(self.head(*frozen_maps(self.backbone, torch.flip(x, [3]))), [3])
            raw = (raw + torch.cat([mirrored[:, :1], 1 - mirrored[:, 1:2], mirrored[:, 2:]], 1)) / 2
        return torch.cat([torch.sigmoid(raw[:, :1]), raw[:, 1:]], 1)  # offsets and log sizes as trained: raw


def frozen_maps(backbone, x):
    y13 = backbone.stages(backbone.normalize(x), 0, 14)
    return y13, backbone.stages(y13, 14, 19)


def load_scenes(paths):
    scenes = []
    for path in paths:
        with open(path) as f:
            document = json.load(f)
        base = os.path.dirname(os.path.abspath(path))
        scenes += [(os.path.join(base, s["path"]), [o["box"] for o in s["objects"]]) for s in document["scenes"]]
    return scenes


def cache_maps(backbone, scenes, size):
    """(y13, y18 as float16, boxes scaled to the input) per scene."""
    out = []
    with torch.no_grad():
        for path, boxes in scenes:
            bgr = cv2.imread(path)
            sx, sy = size[0] / bgr.shape[1], size[1] / bgr.shape[0]
            rgb = cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None]
            y13, y18 = frozen_maps(backbone, x)
            scaled = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in boxes]
            out.append((y13.half(), y18.half(), scaled))
    return out


def gaussian_radius(w, h):
    """In cells: a third of the box's smaller side, at least 1 (CenterNet's rule of thumb, simplified)."""
    return max(1.0, min(w, h) / STRIDE / 3.0)


def targets(boxes, grid_w, grid_h, width):
    """Heat [H, W], offsets/sizes [4, H, W] and their mask [H, W] for boxes in input pixels (mirrored when width)."""
    heat = np.zeros((grid_h, grid_w), np.float32)
    regression = np.zeros((4, grid_h, grid_w), np.float32)
    mask = np.zeros((grid_h, grid_w), np.float32)
    ys, xs = np.mgrid[0:grid_h, 0:grid_w]
    for x, y, w, h in boxes:
        if width:
            x = width - x - w
        cx, cy = (x + w / 2) / STRIDE, (y + h / 2) / STRIDE
        ix, iy = min(grid_w - 1, int(cx)), min(grid_h - 1, int(cy))
        sigma = gaussian_radius(w, h) / 2
        heat = np.maximum(heat, np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma * sigma)))
        regression[:, iy, ix] = (cx - ix, cy - iy, math.log(w / STRIDE), math.log(h / STRIDE))
        mask[iy, ix] = 1
    return heat, regression, mask


def focal_loss(logits, heat):
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    centres = heat.eq(1).float()
    positive = -torch.log(p) * (1 - p) ** 2 * centres
    negative = -torch.log(1 - p) * p ** 2 * (1 - heat) ** 4 * (1 - centres)
    return (positive.sum() + negative.sum()) / centres.sum().clamp(min=1)


def train(head, cache, epochs, rng):
    optimiser = torch.optim.Adam(head.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * len(cache))
    for epoch in range(epochs):
        start, total = time.time(), 0.0
        for i in rng.permutation(len(cache)):
            y13, y18, boxes = cache[i]
            flip = bool(rng.integers(2))
            y13, y18 = y13.float(), y18.float()
            if flip:
                y13, y18 = torch.flip(y13, [3]), torch.flip(y18, [3])
            grid_h, grid_w = y13.shape[-2:]
            heat, regression, mask = (torch.from_numpy(t)[None] for t in targets(boxes, grid_w, grid_h, grid_w * STRIDE if flip else 0))
            raw = head(y13, y18)
            centres = mask.sum().clamp(min=1)
            loss = focal_loss(raw[:, 0], heat) + (torch.abs(raw[:, 1:] - regression) * mask[:, None]).sum() / centres
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(cache):.4f} ({time.time() - start:.1f} s)", flush=True)




def export(backbone, head, size, out, flip_average=False):
    finder = ObjectFinder(backbone, head, flip_average).eval()
    example = torch.zeros(1, 3, size[1], size[0])
    with torch.no_grad():
        traced = torch.jit.trace(finder, example, check_trace=False)
    model = os.path.join(out, "object_finder.pt")
    traced.save(model)
    name = f"object finder (MobileNetV2 maps + box head{', flip-averaged' if flip_average else ''}) @{size[0]}x{size[1]}"
    manifest = {"name": name, "format": "torchscript",
                "file": "object_finder.pt", "sha256": sha256(model),
                "input": {"width": size[0], "height": size[1], "channels": "rgb", "normalization": "scale_mean_std",
                          "scale": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]},
                "outputs": {"objects": 0}}
    with open(os.path.join(out, "object_finder.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", action="append", default=[], help="scenes.json of tools/make_scenes.py (repeatable)")
    parser.add_argument("--head", help="export this trained head (head.pt of an earlier run) instead of training one")
    parser.add_argument("--flip-average", action="store_true",
                        help="export a finder that averages its output with the mirrored photo's (twice the time)")
    parser.add_argument("--backbone", required=True, help="the fine-tunable MobileNetV2 (TorchScript with normalize/stages)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--input", default="1024x768", help="WIDTHxHEIGHT, multiples of 32 (default 1024x768)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    width, _, height = args.input.partition("x")
    args.size = (int(width), int(height))
    if args.size[0] % 32 or args.size[1] % 32 or min(args.size) < 64:
        parser.error(f"--input must be multiples of 32 of at least 64, got {args.input}")
    if not args.scenes and not args.head:
        parser.error("give --scenes to train on, or --head to export")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    backbone = torch.jit.load(args.backbone).eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    head = BoxHead()
    if args.head:
        head.load_state_dict(torch.load(args.head))
    else:
        scenes = load_scenes(args.scenes)
        start = time.time()
        cache = cache_maps(backbone, scenes, args.size)
        print(f"feature maps of {len(cache)} scenes: {time.time() - start:.1f} s", flush=True)
        start = time.time()
        train(head, cache, args.epochs, rng)
        print(f"training: {time.time() - start:.1f} s", flush=True)
        torch.save(head.state_dict(), os.path.join(args.out, "head.pt"))
    print(f"wrote {export(backbone, head.eval(), args.size, args.out, args.flip_average)} and its manifest object_finder.json")


if __name__ == "__main__":
    main()
