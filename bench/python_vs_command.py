#!/usr/bin/python3
"""Is Python as fast as the command? Query latency of one catalogue from `import domainsearch` with the
process settings applied at import (the default), from Python with them opted out
(DOMAINSEARCH_NO_PROCESS_TUNING=1), and from the `domainsearch` command (its --json timings), on the same
images, one process each, measured after a warm-up.

  PYTHONPATH=build/bindings/python bench/python_vs_command.py [--catalogue 240] [--queries 30] [--config C.json]

Builds a catalogue of the first --catalogue grocery photos with the configuration (default: the shared frozen
MobileNetV2, no localisation, category mode off, 2 threads), then queries the next --queries photos by path
(decoding included: the same work the command times as decode + query). Prints a table and a JSON line.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROCERY = os.path.join(ROOT, "..", "shared", "data", "grocery")
CLI = os.path.join(ROOT, "build", "bin", "domainsearch")

# Run in a fresh interpreter: import (tuned or not), open the catalogue, warm up, time each query.
PYTHON_QUERIES = """
import json, sys, time
import domainsearch as ds
config = ds.PipelineConfig.load(sys.argv[1])
p = ds.Pipeline.open(sys.argv[2], config)
paths = sys.argv[3:]
for path in paths[:3]:
    p.query(path, k=5)
ms = []
for path in paths:
    start = time.perf_counter()
    p.query(path, k=5)
    ms.append(1000 * (time.perf_counter() - start))
print(json.dumps({"tuned": ds.process_tuned, "ms": ms}))
"""


def photos(count, skip=0):
    with open(os.path.join(GROCERY, "catalogue.csv")) as f:
        rows = list(csv.DictReader(f))[skip:skip + count]
    return [(os.path.join(GROCERY, r["path"]), r["fine_label"], r["coarse_label"]) for r in rows]


def python_run(config, catalogue, paths, tuned):
    env = dict(os.environ)
    env.pop("DOMAINSEARCH_NO_PROCESS_TUNING", None)
    if not tuned:
        env["DOMAINSEARCH_NO_PROCESS_TUNING"] = "1"
    out = subprocess.run([sys.executable, "-c", PYTHON_QUERIES, config, catalogue, *paths], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["ms"]


def command_run(config, catalogue, paths):
    # The command times decode + query per image; the first three images are the warm-up.
    out = subprocess.run([CLI, "query", "--config", config, "--catalogue", catalogue, "--k", "5", "--json", *paths[:3], *paths],
                         capture_output=True, text=True, check=True)
    return [r["timings_ms"]["total"] for r in json.loads(out.stdout)[3:]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalogue", type=int, default=240)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--config", default="")
    args = parser.parse_args()
    import domainsearch as ds
    with tempfile.TemporaryDirectory() as work:
        config = args.config
        if not config:
            config = os.path.join(work, "config.json")
            with open(config, "w") as f:
                json.dump({"backbone": os.path.join(ROOT, "examples", "models", "mobilenet_v2.json"), "threads": 2,
                           "category_mode": "off", "embedding": {"localize": False}}, f)
        catalogue = os.path.join(work, "cat.dscat")
        with ds.Pipeline(ds.PipelineConfig.load(config)) as p:
            p.index_entries(photos(args.catalogue))
            p.save(catalogue)
        paths = [path for path, _, _ in photos(args.queries, skip=args.catalogue)]
        results = {"python (tuned at import)": python_run(config, catalogue, paths, True),
                   "python (DOMAINSEARCH_NO_PROCESS_TUNING=1)": python_run(config, catalogue, paths, False),
                   "domainsearch query": command_run(config, catalogue, paths)}
    print(f"{'':45s} {'median ms':>10s} {'mean ms':>10s}   ({args.queries} queries, catalogue of {args.catalogue})")
    for name, ms in results.items():
        print(f"{name:45s} {statistics.median(ms):10.1f} {statistics.mean(ms):10.1f}")
    print(json.dumps({name: {"median_ms": statistics.median(ms), "mean_ms": statistics.mean(ms)} for name, ms in results.items()}))


if __name__ == "__main__":
    main()
