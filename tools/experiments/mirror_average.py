#!/usr/bin/python3
"""Side experiment (issue #24): mirror averaging. Embeds every catalogue and query photo and its
horizontal mirror with a (fine-tuned) catalogue's network, and compares item recall (category off,
items by their nearest photo) for plain embeddings, mirror-averaged ones on both sides, and on the
query side only. Usage:
    /usr/bin/python3 tools/experiments/mirror_average.py CAT CATALOGUE.csv QUERIES.csv [CONFIG.json]
"""
import csv
import sys

import cv2
import numpy as np

sys.path.insert(0, "build/bindings/python")
import domainsearch as ds  # noqa: E402


def embeddings(p, rows, mirrored):
    out = []
    for row in rows:
        image = cv2.cvtColor(cv2.imread(row["path"]), cv2.COLOR_BGR2RGB)
        if mirrored:
            image = np.ascontiguousarray(image[:, ::-1])
        out.append(np.asarray(p.analyze(image).embedding))
    return np.stack(out)


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def item_recall(catalogue, catalogue_labels, queries, query_labels):
    d = ((queries[:, None, :] - catalogue[None, :, :]) ** 2).sum(-1)
    r1 = r5 = mrr = 0.0
    for i, label in enumerate(query_labels):
        order = []
        for j in np.argsort(d[i], kind="stable"):
            if catalogue_labels[j] not in order:
                order.append(catalogue_labels[j])
        rank = order.index(label)
        r1, r5, mrr = r1 + (rank == 0), r5 + (rank < 5), mrr + 1 / (rank + 1)
    n = len(query_labels)
    return f"R@1 {r1 / n:.3f} R@5 {r5 / n:.3f} MRR {mrr / n:.3f}"


def main():
    cat, catalogue_csv, queries_csv = sys.argv[1:4]
    config = ds.PipelineConfig.load(sys.argv[4] if len(sys.argv) > 4 else "examples/configs/grocery.json")
    c_rows, q_rows = list(csv.DictReader(open(catalogue_csv))), list(csv.DictReader(open(queries_csv)))
    with ds.Pipeline.open(cat, config) as p:
        c, c_m = embeddings(p, c_rows, False), embeddings(p, c_rows, True)
        q, q_m = embeddings(p, q_rows, False), embeddings(p, q_rows, True)
    c_labels, q_labels = [r["label"] for r in c_rows], [r["label"] for r in q_rows]
    print("plain        ", item_recall(unit(c), c_labels, unit(q), q_labels))
    print("mirror both  ", item_recall(unit(c + c_m), c_labels, unit(q + q_m), q_labels))
    print("mirror query ", item_recall(unit(c), c_labels, unit(q + q_m), q_labels))


if __name__ == "__main__":
    main()
