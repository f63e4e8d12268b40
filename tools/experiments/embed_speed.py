#!/usr/bin/python3
"""Side experiment (issue #24): what a higher input resolution costs per query. Median milliseconds of
decoding and embedding (Pipeline.analyze, no localisation) over every 10th val photo, for each
configuration given (default: grocery.json at 224 px and grocery_288.json). Usage:
    /usr/bin/python3 tools/experiments/embed_speed.py QUERIES.csv [CONFIG.json...]
"""
import csv
import statistics
import sys
import time

sys.path.insert(0, "build/bindings/python")
import domainsearch as ds  # noqa: E402


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))[::10]
    configs = sys.argv[2:] or ["examples/configs/grocery.json", "examples/configs/grocery_288.json"]
    for path in configs:
        with ds.Pipeline(ds.PipelineConfig.load(path)) as p:
            for row in rows[:3]:  # warm-up
                p.analyze(row["path"])
            times = []
            for row in rows:
                start = time.perf_counter()
                p.analyze(row["path"])
                times.append((time.perf_counter() - start) * 1000)
        print(f"{path}: median decode + embed {statistics.median(times):.1f} ms over {len(rows)} photos")


if __name__ == "__main__":
    main()
