#!/usr/bin/python3
"""Post-training int8 quantisation of a TorchScript model, calibrated on your own images.

  /usr/bin/python3 tools/quantize_model.py --manifest examples/models/isnet_320.json \
      --images ../shared/data/grocery/catalogue.csv --out out/models/isnet_320_int8 [--count 64] [--check 16]

Writes OUT.pt (the quantised TorchScript) and OUT.json (a model manifest for it: the input manifest with
`file`, `sha256`, `name` replaced and `quantized_engine` added), then prints how far the int8 outputs are
from the float ones on held-out images (mask IoU for a `mask` role, cosine for `features`, top-1
agreement for `logits`) and the speed of both. Load OUT.json like any other manifest; int8 models run on
the CPU only.

What it does: TorchScript graph-mode post-training quantisation (torch.ao.quantization.quantize_jit),
per-channel weights and per-tensor activations, observers calibrated on `--count` images fed exactly as
the library feeds them (the manifest's size, channel order and normalisation; resize with INTER_AREA when
shrinking, INTER_LINEAR otherwise). The engine is the first of onednn, fbgemm this torch supports; the
manifest records it because the quantised weights are packed for it when a process loads the model.
`--images` is a CSV manifest (first column: image path relative to the CSV's folder) or a folder.
Calibration images are spread evenly over the list; check images are others, spread the same way.
"""
import argparse
import csv
import json
import os
import sys
import time


def cap_onednn_isa():
    """The library's rule (src/runtime/onednn_isa.hpp), applied before torch is imported: on CPUs with
    AMX-TILE or AVX512-FP16, oneDNN (in LibTorch 1.13) corrupts the heap with int8 models, so it is capped
    at AVX512_CORE_VNNI unless DNNL_MAX_CPU_ISA/ONEDNN_MAX_CPU_ISA are set or DS_ONEDNN_ISA=native."""
    if "DNNL_MAX_CPU_ISA" in os.environ or "ONEDNN_MAX_CPU_ISA" in os.environ:
        return
    if os.environ.get("DS_ONEDNN_ISA", "").lower() == "native":
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return
    if "amx_tile" in flags or "avx512_fp16" in flags:
        os.environ["DNNL_MAX_CPU_ISA"] = os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE_VNNI"


cap_onednn_isa()

import cv2  # noqa: E402 (after the cap: oneDNN reads it when torch first runs a kernel)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.ao.quantization import get_default_qconfig, quantize_jit  # noqa: E402

from model_files import sha256  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_paths(source):
    if os.path.isdir(source):
        return sorted(os.path.join(source, n) for n in os.listdir(source) if n.lower().endswith(IMAGE_SUFFIXES))
    root = os.path.dirname(os.path.abspath(source))
    with open(source, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [os.path.join(root, r[0]) for r in rows if r]


def spread(paths, count, offset):
    """`count` paths evenly spaced over the list, starting half a step in for offset=1 (disjoint from offset=0)."""
    n = min(count, len(paths) // 2)
    step = len(paths) / max(n, 1)
    return [paths[int(i * step + offset * step / 2)] for i in range(n)]


def load_manifest(path):
    with open(path) as f:
        m = json.load(f)
    if m.get("format", "torchscript") != "torchscript":
        sys.exit(f"{path}: only TorchScript models can be quantised here (format is {m.get('format')!r})")
    if m["input"].get("trimap"):
        sys.exit(f"{path}: matting models (trimap input) are not supported")
    folder = os.path.dirname(os.path.abspath(path))
    m["file"] = os.path.normpath(os.path.join(folder, m["file"]))
    if m.get("labels"):
        m["labels"] = os.path.normpath(os.path.join(folder, m["labels"]))
    return m


def model_input(path, m):
    """One image as the library feeds it: [1,3,H,W] float32."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"{path}: not a decodable image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    inp = m["input"]
    w, h = inp["width"], inp["height"]
    shrinking = w < rgb.shape[1] and h < rgb.shape[0]
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR).astype(np.float32)
    if inp.get("channels", "rgb") == "bgr":
        x = x[..., ::-1]
    scale = 1.0 / max(float(x.max()), 1e-6) if inp.get("normalization") == "max_mean_std" else inp.get("scale", 1.0)
    mean = np.asarray(inp.get("mean", [0, 0, 0]), np.float32)
    std = np.asarray(inp.get("std", [1, 1, 1]), np.float32)
    x = (x * scale - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def pick_engine():
    for engine in ("onednn", "fbgemm"):
        if engine in torch.backends.quantized.supported_engines:
            return engine
    sys.exit(f"this torch has no x86 int8 engine (supported: {torch.backends.quantized.supported_engines})")


class CopiedOutputs(torch.nn.Module):
    """The model with each output copied. Graph-mode quantisation dequantises a tuple output as a list,
    which TorchScript then refuses to load; after the copies each output is dequantised on its own."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        y = self.inner(x)
        return tuple(t.clone() for t in y) if isinstance(y, (tuple, list)) else y.clone()


def outputs(result, roles):
    if isinstance(result, torch.Tensor):
        result = (result,)
    return {role: result[index] for role, index in roles.items()}


def mask_iou(a, b):
    """IoU of the masks the Localizer would draw: min-max normalised, threshold 0.5."""
    def binary(t):
        t = t.flatten()
        return (t - t.min()) / (t.max() - t.min() + 1e-8) > 0.5
    a, b = binary(a), binary(b)
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def compare(role, ref, got):
    if role == "mask":
        return "mask IoU", mask_iou(ref, got)
    if role == "logits":
        return "top-1 agreement", float(ref.flatten().argmax() == got.flatten().argmax())
    return "cosine", torch.nn.functional.cosine_similarity(ref.flatten(), got.flatten(), dim=0).item()


@torch.inference_mode()
def timed_forward(model, x, runs=3):
    model(x)
    start = time.perf_counter()
    for _ in range(runs):
        result = model(x)
    return result, (time.perf_counter() - start) / runs * 1e3




def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, help="the float model's manifest")
    ap.add_argument("--images", required=True, help="calibration images: CSV manifest or folder")
    ap.add_argument("--out", required=True, help="output prefix: writes PREFIX.pt and PREFIX.json")
    ap.add_argument("--model-file", help="the float model file, instead of the one the manifest names")
    ap.add_argument("--count", type=int, default=64, help="calibration images (default 64)")
    ap.add_argument("--check", type=int, default=16, help="held-out images to compare float and int8 on (default 16)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    m = load_manifest(args.manifest)
    if args.model_file:
        m["file"] = os.path.abspath(args.model_file)
    roles = {role: int(index) for role, index in m["outputs"].items()}
    paths = image_paths(args.images)
    if len(paths) < 2:
        sys.exit(f"{args.images}: needs at least 2 images")
    calibration = [model_input(p, m) for p in spread(paths, args.count, 0)]
    checks = [model_input(p, m) for p in spread(paths, args.check, 1)]

    engine = pick_engine()
    torch.backends.quantized.engine = engine
    model = torch.jit.load(m["file"]).float().eval()
    model = torch.jit.trace(CopiedOutputs(model), calibration[0]).eval()

    def calibrate(observed, batches):
        with torch.inference_mode():
            for x in batches:
                observed(x)

    quantised = quantize_jit(model, {"": get_default_qconfig(engine)}, calibrate, [calibration])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    model_file = args.out + ".pt"
    torch.jit.save(quantised, model_file)

    # Every key of the float manifest (the library refuses unknown ones), paths relative to the new
    # manifest's folder, and the int8 file's digest (required: the library checks it at load).
    out_manifest = dict(m)
    out_manifest.update(name=f"{m.get('name', os.path.basename(m['file']))} int8 ({engine})",
                        file=os.path.basename(model_file), sha256=sha256(model_file), quantized_engine=engine)
    if m.get("labels"):
        out_manifest["labels"] = os.path.relpath(m["labels"], os.path.dirname(os.path.abspath(model_file)))
    with open(args.out + ".json", "w") as f:
        json.dump(out_manifest, f, indent=2)
        f.write("\n")

    quantised = torch.jit.load(model_file).eval()  # what a user will load, not the in-memory graph
    scores, float_ms, int8_ms = {}, [], []
    for x in checks:
        ref, t_ref = timed_forward(model, x)
        got, t_got = timed_forward(quantised, x)
        float_ms.append(t_ref)
        int8_ms.append(t_got)
        ref, got = outputs(ref, roles), outputs(got, roles)
        for role in roles:
            name, value = compare(role, ref[role], got[role])
            scores.setdefault((role, name), []).append(value)
    print(f"wrote {model_file} and {args.out}.json (engine {engine}, calibrated on {len(calibration)} images)")
    for (role, name), values in scores.items():
        print(f"{role}: {name} int8 vs float over {len(values)} held-out images: mean {np.mean(values):.4f}, min {np.min(values):.4f}")
    print(f"forward at batch 1, {args.threads} threads: float {np.median(float_ms):.1f} ms, int8 {np.median(int8_ms):.1f} ms (medians)")


if __name__ == "__main__":
    main()
