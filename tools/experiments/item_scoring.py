#!/usr/bin/python3
"""Side experiment (issue #24): how to score an item from its photos, and whether to gate by category.

For each query photo, ranks every photo of a catalogue (category off), then scores items by their
nearest photo, the mean distance of their m nearest photos, or a vote of the nearest n photos
(weights exp(-d / 0.1)), with the category gate off / hard / soft, and prints item recall@1, @5 and
MRR. Usage (after `domainsearch index ... --catalogue CAT`):
    /usr/bin/python3 tools/experiments/item_scoring.py CAT QUERIES.csv [CONFIG.json]
"""
import collections
import csv
import math
import sys

sys.path.insert(0, "build/bindings/python")
import domainsearch as ds  # noqa: E402


def rankings(catalogue, queries_csv, config_path):
    config = ds.PipelineConfig.load(config_path)
    config.category_mode, config.one_result_per_label, config.match_distance = "off", False, 0
    with ds.Pipeline.open(catalogue, config) as p:
        for row in csv.DictReader(open(queries_csv)):
            r = p.query(row["path"], k=len(p))
            yield row["label"], dict(r.predicted), [(x.label, x.category, x.distance) for x in r.results]


def gate(predicted, mode):
    if mode == "off":
        return None
    ranked = sorted(predicted.items(), key=lambda kv: -kv[1])
    if mode == "hard":
        return {ranked[0][0]}
    chosen, mass = set(), 0.0
    for category, probability in ranked[:3]:  # soft 0.5, at most 3
        chosen.add(category)
        mass += probability
        if mass >= 0.5:
            break
    return chosen


def items(photos, m=1, vote=0):
    by_label = collections.OrderedDict()
    for label, _, d in photos:
        by_label.setdefault(label, []).append(d)
    if vote:
        weight = collections.Counter()
        for label, _, d in photos[:vote]:
            weight[label] += math.exp(-d / 0.1)
        return sorted(by_label, key=lambda l: (-weight.get(l, 0), by_label[l][0]))
    return sorted(by_label, key=lambda l: sum(by_label[l][:m]) / min(m, len(by_label[l])))


def main():
    catalogue, queries_csv = sys.argv[1:3]
    config_path = sys.argv[3] if len(sys.argv) > 3 else "examples/configs/grocery.json"
    data = list(rankings(catalogue, queries_csv, config_path))
    rules = [("nearest photo", 1, 0), ("mean of 2", 2, 0), ("mean of 3", 3, 0), ("mean of 5", 5, 0),
             ("vote of 5", 1, 5), ("vote of 10", 1, 10), ("vote of 20", 1, 20)]
    for mode in ("off", "hard", "soft"):
        for name, m, vote in rules:
            r1 = r5 = mrr = 0.0
            for label, predicted, photos in data:
                allowed = gate(predicted, mode)
                order = items([x for x in photos if allowed is None or x[1] in allowed], m, vote)
                rank = order.index(label) if label in order else None
                r1 += rank == 0
                r5 += rank is not None and rank < 5
                mrr += 0 if rank is None else 1 / (rank + 1)
            n = len(data)
            print(f"category {mode:4s} {name:13s} R@1 {r1 / n:.3f} R@5 {r5 / n:.3f} MRR {mrr / n:.3f}")


if __name__ == "__main__":
    main()
