"""Writers in separate processes saving one catalogue and one index file at once: every save that
succeeds is kept. Each writer (4 Python processes through `import domainsearch`, 1 through the C ABI with
ctypes) adds one new key per round (open, add, save, and on Conflict reopen and retry: concurrent_save_writer.py);
at the end the files hold exactly the keys of the successful saves. Before saves checked the file's
generation and renamed under one lock, some successful saves were lost (issue #21). Needs the built package
on PYTHONPATH, DS_TEST_MODEL_DIR (tiny models) and DS_LIBRARY (the C ABI)."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

ds = pytest.importorskip("domainsearch")
from tiny_models import make_config, picture  # noqa: E402 (after the import check)
MODELS = os.environ.get("DS_TEST_MODEL_DIR")
LIB_PATH = os.environ.get("DS_LIBRARY")
pytestmark = pytest.mark.skipif(not MODELS or not LIB_PATH, reason="DS_TEST_MODEL_DIR and DS_LIBRARY not set")

WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "concurrent_save_writer.py")
ROUNDS = int(os.environ.get("DS_CONCURRENT_SAVE_ROUNDS", "5"))
DOORS = ("python", "python", "python", "python", "c")  # writer i goes through DOORS[i]; its keys are (i + 1) * 1000 + round


def start_files(folder):
    """The catalogue (keys 1, 2; category "boxes") and the index (keys 1, 2; category 0) the writers add to."""
    pipeline = ds.Pipeline(make_config())
    for key in (1, 2):
        pipeline.add(key, picture(key), "boxes", f"start {key}")
    pipeline.save(str(folder / "catalogue.dscat"))
    index = ds.Index(4)
    assert index.add_category("all") == 0
    index.add([1, 2], [0, 0], np.zeros((2, 4), np.float32))
    index.save(str(folder / "index.dsidx"))


def run_writers(folder, rounds):
    """Starts one process per door, lets them go at once, returns each one's JSON report."""
    processes = [subprocess.Popen([sys.executable, WRITER, door, str(i + 1), str(rounds), str(folder)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=dict(os.environ))
                 for i, door in enumerate(DOORS)]
    try:
        deadline = time.monotonic() + 240
        while not all((folder / f"ready-{i + 1}").exists() for i in range(len(DOORS))):  # imported, models found
            dead = [p for p in processes if p.poll() is not None]
            assert not dead, f"a writer ended before it was ready: {dead[0].communicate()}"
            assert time.monotonic() < deadline, "the writers did not start"
            time.sleep(0.02)
        (folder / "go").touch()
        reports = []
        for door, p in zip(DOORS, processes):
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert p.returncode == 0, f"the {door} writer failed ({p.returncode}):\n{err}"
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_concurrent_writers_in_separate_processes_lose_no_save(tmp_path):
    start_files(tmp_path)
    reports = run_writers(tmp_path, ROUNDS)
    start = {1, 2}
    for i, report in enumerate(reports):
        mine = {(i + 1) * 1000 + r for r in range(ROUNDS)}
        assert set(report["catalogue"]) == mine and set(report["index"]) == mine, report  # each writer saved every round once
    conflicts = sum(r["conflicts"] for r in reports)
    print(f"{len(DOORS)} writers x {ROUNDS} rounds x 2 files: {conflicts} saves refused with Conflict and retried")

    catalogue = ds.Pipeline.open(str(tmp_path / "catalogue.dscat"), make_config())
    saved = start | {key for r in reports for key in r["catalogue"]}
    assert len(catalogue) == len(start) + sum(len(r["catalogue"]) for r in reports)
    assert set(catalogue.keys) == saved, f"lost saves: {sorted(saved - set(catalogue.keys))}"
    for i, door in enumerate(DOORS):  # both doors' keys, with their labels
        assert catalogue.item((i + 1) * 1000)["label"] == f"writer {i + 1}", door

    index = ds.Index.load(str(tmp_path / "index.dsidx"))
    saved = start | {key for r in reports for key in r["index"]}
    assert len(index) == len(saved) == len(start) + sum(len(r["index"]) for r in reports)
    lost = sorted(key for key in saved if key not in index)
    assert not lost, f"lost index saves: {lost}"
    assert not list(tmp_path.glob("*.tmp.*"))  # no writer left a temporary behind


def test_a_save_over_a_file_changed_since_it_was_read_is_a_conflict(tmp_path):
    start_files(tmp_path)
    path = str(tmp_path / "index.dsidx")
    first, second = ds.Index.load(path), ds.Index.load(path)
    first.add([3], [0], np.ones((1, 4), np.float32))
    first.save(path)
    second.add([4], [0], np.ones((1, 4), np.float32))
    with pytest.raises(ds.Error) as e:
        second.save(path)
    assert e.value.status == "Conflict" and "index.dsidx" in str(e.value)
    first.add([5], [0], np.ones((1, 4), np.float32))
    first.save(path)  # its own last save is what it expects
    reread = ds.Index.load(path)
    assert len(reread) == 4 and 3 in reread and 5 in reread and 4 not in reread
    second.save(str(tmp_path / "elsewhere.dsidx"))  # a save to another file replaces whatever is there

    path = str(tmp_path / "catalogue.dscat")
    first, second = ds.Pipeline.open(path, make_config()), ds.Pipeline.open(path, make_config())
    first.add(3, picture(3), "boxes")
    first.save(path)
    second.add(4, picture(4), "boxes")
    with pytest.raises(ds.Error) as e:
        second.save(path)
    assert e.value.status == "Conflict"
    assert sorted(ds.Pipeline.open(path, make_config()).keys) == [1, 2, 3]
