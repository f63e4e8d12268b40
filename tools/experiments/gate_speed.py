#!/usr/bin/python3
"""Side experiment (issue #24): what the category gate saves at query time. Median milliseconds of
categorise + search + item grouping (k = 10, items) over every 10th val query, with the category gate
off and soft 0.5, on a catalogue built with `domainsearch index`. Usage:
    /usr/bin/python3 tools/experiments/gate_speed.py CAT QUERIES.csv [CONFIG.json]
"""
import csv
import statistics
import sys

sys.path.insert(0, "build/bindings/python")
import domainsearch as ds  # noqa: E402


def main():
    cat, queries_csv = sys.argv[1:3]
    config_path = sys.argv[3] if len(sys.argv) > 3 else "examples/configs/grocery.json"
    rows = list(csv.DictReader(open(queries_csv)))[::10]
    for mode in ("off", "predicted_soft"):
        config = ds.PipelineConfig.load(config_path)
        config.category_mode, config.soft_threshold, config.match_distance = mode, 0.5, 0
        with ds.Pipeline.open(cat, config) as p:
            analyses = [p.analyze(r["path"]) for r in rows]
            times = []
            for _ in range(5):
                for a in analyses:
                    t = p.query_analyzed(a, k=10).timings
                    times.append(t["categorize"] + t["search"] + t["rerank"])
        print(f"category {mode}: median {statistics.median(times):.3f} ms (categorise + search + items), {len(analyses)} queries x 5")


if __name__ == "__main__":
    main()
