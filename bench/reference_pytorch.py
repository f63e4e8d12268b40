#!/usr/bin/python3
"""The peer a user would otherwise write: the same pipeline in plain Python/PyTorch, same models.

  /usr/bin/python3 bench/reference_pytorch.py --models ../shared/models --catalogue-csv CAT.csv \
      --queries-csv Q.csv [--localize] [--rerank] [--index-count 240] [--query-count 30] [--threads 2]

CSV columns: path,label,category (tools/grocery_manifest.py writes them). Offline: decode (OpenCV),
optionally localise (ISNet at 320: x/255-0.5, min-max, resize back, threshold 0.5, cut out onto white,
64x64 mask), embed (MobileNetV2 at 224, L2-normalised), store; train the paper's category head
(1024-512-C MLP, Adam on standardised embeddings, 30 epochs). Online, per query: decode, localise,
embed, categorise (top categories until 0.9 of the probability, at most 3), exact L2 search inside them
(torch), optionally rerank the top 20 by mask IoU. Prints a table and, last, one JSON line with the
same keys as bench_pipeline.
"""
import argparse
import csv
import json
import os
import resource
import statistics
import time

import cv2
import numpy as np
import torch


def read_csv(path, count):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    n = min(count, len(rows))
    return [rows[i * len(rows) // n] for i in range(n)]


def decode(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Reference:
    def __init__(self, models, localize, segmenter_file=None):
        self.backbone = torch.jit.load(os.path.join(models, "mobilenet_v2_1.0_224.pt")).eval()
        segmenter_file = segmenter_file or os.path.join(models, "isnet_general_use.pt")
        self.segmenter = torch.jit.load(segmenter_file).float().eval() if localize else None

    @torch.inference_mode()
    def localize(self, rgb):
        h, w = rgb.shape[:2]
        x = torch.from_numpy(cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_LINEAR)).permute(2, 0, 1)[None].float() / 255 - 0.5
        s = self.segmenter(x)
        s = (s[0] if isinstance(s, (list, tuple)) else s)[0, 0]
        s = (s - s.min()) / (s.max() - s.min() + 1e-8)
        mask = cv2.resize(s.numpy(), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        cutout = np.where(mask[..., None], rgb, 255).astype(np.uint8)
        small = cv2.resize(mask.astype(np.uint8), (64, 64), interpolation=cv2.INTER_AREA) > 0
        return cutout, small

    @torch.inference_mode()
    def embed(self, rgb):
        x = torch.from_numpy(cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_LINEAR)).permute(2, 0, 1)[None].float()
        f = self.backbone(x)[0][0]
        return f / f.norm()

    def analyse(self, path, times=None):
        t0 = time.perf_counter()
        rgb = decode(path)
        t1 = time.perf_counter()
        mask = None
        if self.segmenter is not None:
            rgb, mask = self.localize(rgb)
        t2 = time.perf_counter()
        emb = self.embed(rgb)
        t3 = time.perf_counter()
        if times is not None:
            times["decode"].append((t1 - t0) * 1e3)
            times["localize"].append((t2 - t1) * 1e3)
            times["embed"].append((t3 - t2) * 1e3)
        return emb, mask


def train_head(x, y, classes, epochs=30):
    torch.manual_seed(0)
    mean, std = x.mean(0), x.std(0) + 1e-6
    head = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1024), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(1024, 512), torch.nn.ReLU(), torch.nn.Linear(512, classes))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    xs = (x - mean) / std
    for _ in range(epochs):
        for idx in torch.randperm(len(xs)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(xs[idx]), y[idx]).backward()
            opt.step()
    head.eval()
    return head, mean, std


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models"))
    ap.add_argument("--catalogue-csv", required=True)
    ap.add_argument("--queries-csv", required=True)
    ap.add_argument("--localize", action="store_true")
    ap.add_argument("--rerank", action="store_true")
    ap.add_argument("--segmenter-file", help="another ISNet TorchScript file at 320, e.g. the int8 one tools/int8_segmenter.sh makes")
    ap.add_argument("--index-count", type=int, default=240)
    ap.add_argument("--query-count", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ref = Reference(a.models, a.localize, a.segmenter_file)

    catalogue = read_csv(a.catalogue_csv, a.index_count)
    start = time.perf_counter()
    embs, masks = [], []
    for row in catalogue:
        e, m = ref.analyse(row["path"])
        embs.append(e)
        masks.append(m)
    index_rate = len(catalogue) / (time.perf_counter() - start)
    names = sorted({r["category"] for r in catalogue})
    cats = torch.tensor([names.index(r["category"]) for r in catalogue])
    emb = torch.stack(embs)
    head, mean, std = train_head(emb, cats, len(names))

    times = {k: [] for k in ("decode", "localize", "embed", "categorize", "search", "rerank", "total")}
    for row in read_csv(a.queries_csv, a.query_count):
        t0 = time.perf_counter()
        q, qmask = ref.analyse(row["path"], times)
        t1 = time.perf_counter()
        with torch.inference_mode():
            p = torch.softmax(head(((q - mean) / std)[None]), 1)[0]
        chosen, mass = [], 0.0
        for c in torch.argsort(p, descending=True)[:3].tolist():
            chosen.append(c)
            mass += float(p[c])
            if mass >= 0.9:
                break
        t2 = time.perf_counter()
        rows = torch.nonzero(torch.isin(cats, torch.tensor(chosen))).flatten()
        d = ((emb[rows] - q) ** 2).sum(1)
        depth = min(20 if a.rerank else 10, len(rows))
        top = rows[torch.topk(d, depth, largest=False).indices].tolist()
        t3 = time.perf_counter()
        if a.rerank and qmask is not None:
            iou = [np.logical_and(qmask, masks[i]).sum() / max(1, np.logical_or(qmask, masks[i]).sum()) for i in top]
            top = [top[i] for i in np.argsort(-np.array(iou), kind="stable")][:10]
        t4 = time.perf_counter()
        for key, value in (("categorize", t2 - t1), ("search", t3 - t2), ("rerank", t4 - t3), ("total", t4 - t0)):
            times[key].append(value * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"reference (PyTorch {torch.__version__}, {a.threads} threads): localise {'on' if a.localize else 'off'}, rerank {'on' if a.rerank else 'off'}")
    print(f"indexing: {len(catalogue)} photos, {index_rate:.2f} img/s")
    print("query medians over %d (ms): " % len(times["total"]) + " ".join(f"{k} {v:.2f}" for k, v in med.items()))
    print(f"peak resident memory {peak:.0f} MiB")
    print(json.dumps({"impl": "reference_pytorch", "localize": a.localize, "index_img_s": index_rate, "indexed": len(catalogue),
                      "queries": len(times["total"]), **{f"{k}_ms": v for k, v in med.items()}, "peak_rss_mib": peak}))


if __name__ == "__main__":
    main()
