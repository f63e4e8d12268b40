#!/usr/bin/python3
"""Is the category head trained across shards as good as the one trained on one machine? Both learn from
the same stored embeddings of the same photos (frozen MobileNetV2, no augmented views, which shards cannot
make); the shards hold them in another order. Prints both training reports and each head's category top-1
on the validation photos, and how often the two heads agree.
  PYTHONPATH=build/bindings/python tools/experiments/shard_head_accuracy.py [--shards 2] [--rows N]"""
import argparse
import csv
import json
import os
import sys
import tempfile

import domainsearch as ds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows_of(path, limit=None):
    with open(path, encoding="utf-8") as f:
        rows = [(r["path"], r["label"], r["category"]) for r in csv.DictReader(f)]
    return rows[:limit] if limit else rows


def category_accuracy(pipeline, queries):
    predicted = [pipeline.query(path, k=1).predicted[0][0] for path, _, _ in queries]
    return sum(p == c for p, (_, _, c) in zip(predicted, queries)) / len(queries), predicted


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalogue", default=os.path.join(ROOT, "out/final/catalogue.csv"))
    parser.add_argument("--queries", default=os.path.join(ROOT, "out/final/queries_val.csv"))
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None)
    a = parser.parse_args()
    rows, queries = rows_of(a.catalogue, a.rows), rows_of(a.queries)
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "config.json")
        with open(config, "w") as f:
            json.dump({"backbone": os.path.join(ROOT, "examples/models/mobilenet_v2.json"), "threads": 2, "category_mode": "predicted_soft",
                       "embedding": {"localize": False}, "training_views": 0}, f)
        settings = ds.PipelineConfig.load(config)
        template = ds.Pipeline(settings)
        template.add_categories(sorted({c for _, _, c in rows}))
        template_path = os.path.join(work, "template.dscat")
        template.save(template_path)

        one = ds.Pipeline.open(template_path, settings)
        one.index_entries(rows)
        one_report = one.train_categories()
        shard_paths = []
        for s in range(a.shards):
            shard = ds.Pipeline.open(template_path, settings)
            shard.index_entries([r for r in rows if ds.shard_of_key(ds.Pipeline.key_for_path(r[0]), a.shards) == s])
            shard_paths.append(os.path.join(work, f"shard{s}.dscat"))
            shard.save(shard_paths[-1])
        trained = ds.Pipeline.open(template_path, settings)
        shard_report = ds.train_category_model_on_shards(trained, shard_paths)
        sharded = ds.Pipeline.open(template_path, settings)
        sharded.index_entries(rows)
        sharded.install_category_model(trained)

        one_accuracy, one_predicted = category_accuracy(one, queries)
        shard_accuracy, shard_predicted = category_accuracy(sharded, queries)
        agree = sum(p == q for p, q in zip(one_predicted, shard_predicted)) / len(queries)
        print(f"{len(rows)} catalogue photos, {len(queries)} val queries, {a.shards} shards")
        print(f"one machine: {one_report}\n  val category top-1 {one_accuracy:.3f}")
        print(f"across shards: {shard_report}\n  val category top-1 {shard_accuracy:.3f}")
        print(f"the two heads agree on {agree:.3f} of the queries")


if __name__ == "__main__":
    sys.exit(main())
