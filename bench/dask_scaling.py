#!/usr/bin/python3
"""Distributed indexing throughput and sharded-search overhead on a Dask LocalCluster (domainsearch.dask).

  PYTHONPATH=build/bindings/python bench/dask_scaling.py [--rows 600] [--queries 40] [--shards 2] [--out DIR]

Indexes the first --rows grocery catalogue photos with the shared (frozen) MobileNetV2, 1 thread per worker,
no localisation and no training, so the number is the model-bound embedding throughput that a sizing needs:
once with 1 worker process, once with 2 (this machine has 2 cores: the ratio is the scaling). Then queries a
2-worker shard set and reports, per query, the embedding, the fan-out + merge, and the same search in one
in-process catalogue: the merge overhead is the difference. Prints the sizing model's inputs (photos/hour per
core, bytes per item on disk and in memory) and a JSON line with every number.
"""
import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time

import distributed

import domainsearch as ds
import domainsearch.dask as dsd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROCERY = os.path.join(ROOT, "..", "shared", "data", "grocery")


def grocery_rows(limit):
    classes = {}
    with open(os.path.join(GROCERY, "classes.csv"), newline="") as f:
        for row in csv.DictReader(f):
            classes[row["fine_label"]] = row
    rows = []
    with open(os.path.join(GROCERY, "catalogue.csv"), newline="") as f:
        for row in csv.DictReader(f):
            c = classes[row["fine_label"]]
            rows.append((os.path.join(GROCERY, row["path"]), c["fine_name"], c["coarse_name"]))
    step = max(1, len(rows) // limit)  # spread over the classes
    return rows[::step][:limit]


def write_config(folder):
    path = os.path.join(folder, "bench_config.json")
    with open(path, "w") as f:
        json.dump({"backbone": os.path.join(ROOT, "examples", "models", "mobilenet_v2.json"), "threads": 1,
                   "embedding": {"localize": False, "l2_normalize": True}, "category_mode": "off", "k": 10}, f)
    return path


def index_with(workers, rows, config, out, shards):
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        stamps = {}
        progress = lambda stage, done, total, _: stamps.setdefault(stage, {}).update({done: time.monotonic()})  # noqa: E731
        start = time.monotonic()
        report = dsd.index_catalogue(client, rows, config, out, shards=shards, train=False, chunk_rows=16, progress=progress)
        total = time.monotonic() - start
        analyze = stamps["analyze"][max(stamps["analyze"])] - stamps["template"][1]
        return {"workers": workers, "photos": report.added, "seconds": total, "analyze_seconds": analyze,
                "photos_per_second": report.added / analyze}, report


def query_overheads(rows, config, shard_folder, count):
    single = ds.Pipeline.open(os.path.join(shard_folder, "template.dscat"), ds.PipelineConfig.load(config))
    single.index_entries(rows)
    queries = [path for path, _, _ in rows[1::max(1, len(rows) // count)]][:count]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        sharded = dsd.ShardedCatalogue(client, shard_folder, config)
        embed, fan_out, one = [], [], []
        for path in queries:
            t0 = time.perf_counter()
            analysis = sharded.analyze(path)
            t1 = time.perf_counter()
            got = sharded.query_analyzed(analysis, k=10)
            t2 = time.perf_counter()
            expected = single.query_analyzed(analysis, k=10)
            t3 = time.perf_counter()
            assert [r.key for r in got.results] == [r.key for r in expected.results], path
            embed.append((t1 - t0) * 1e3), fan_out.append((t2 - t1) * 1e3), one.append((t3 - t2) * 1e3)
    median = statistics.median
    return {"queries": len(queries), "embed_ms": median(embed), "sharded_search_ms": median(fan_out), "single_search_ms": median(one),
            "merge_overhead_ms": median(fan_out) - median(one), "index_bytes_per_item": single.index_memory_bytes / len(single)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="ds_dask_bench_")
    os.makedirs(out, exist_ok=True)
    rows = grocery_rows(args.rows)
    config = write_config(out)
    runs = []
    for workers in (1, 2):
        run, report = index_with(workers, rows, config, os.path.join(out, f"w{workers}"), args.shards)
        runs.append(run)
        print(f"{workers} worker(s): {run['photos']} photos, embedding {run['analyze_seconds']:.1f} s = {run['photos_per_second']:.1f} photos/s "
              f"(whole job {run['seconds']:.1f} s)", flush=True)
    shard_bytes = sum(os.path.getsize(p) for p in report.shard_paths)
    queries = query_overheads(rows, config, os.path.join(out, "w2"), args.queries)
    per_core = runs[0]["photos_per_second"] * 3600
    print(f"scaling 2 workers / 1 worker: {runs[1]['photos_per_second'] / runs[0]['photos_per_second']:.2f}x")
    print(f"per query: embed {queries['embed_ms']:.1f} ms, sharded search {queries['sharded_search_ms']:.2f} ms vs one catalogue "
          f"{queries['single_search_ms']:.2f} ms: merge overhead {queries['merge_overhead_ms']:.2f} ms ({queries['queries']} queries, medians)")
    print(f"sizing inputs: {per_core:,.0f} photos/hour per core; {shard_bytes / runs[1]['photos']:.0f} bytes per item on disk, "
          f"{queries['index_bytes_per_item']:.0f} in memory")
    print(json.dumps({"indexing": runs, "query": queries, "shard_bytes_per_item": shard_bytes / runs[1]["photos"],
                      "photos_per_hour_per_core": per_core}))


if __name__ == "__main__":
    sys.exit(main())
