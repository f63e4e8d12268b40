"""domainsearch.dask on a real cluster (a `dask scheduler` and two `dask worker` processes, started
here): sharded indexing equals one catalogue, sharded search equals one catalogue's, a worker killed mid-build loses no row, bad rows are
reported, fine-tuning runs once, an interrupted job resumes. Needs python3-distributed, the built package and DS_TEST_MODEL_DIR."""
import collections
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ds = pytest.importorskip("domainsearch")
distributed = pytest.importorskip("distributed")
import domainsearch.dask as dsd  # noqa: E402

MODELS = os.environ.get("DS_TEST_MODEL_DIR")
pytestmark = pytest.mark.skipif(not MODELS, reason="DS_TEST_MODEL_DIR not set")
SHAPES = ("disc", "square", "bar")


def write_images(folder, count):
    """count pictures of three shapes in varied colours and sizes; returns rows (path, label, category)."""
    import cv2
    rows = []
    for i in range(count):
        image = np.full((48, 64, 3), 255, np.uint8)
        shape, size, colour = SHAPES[i % 3], 8 + (i * 7) % 14, (37 * i % 200, 180 - 11 * i % 150, 50 + 23 * i % 180)
        if shape == "disc":
            cv2.circle(image, (32, 24), size, colour, -1)
        elif shape == "square":
            cv2.rectangle(image, (32 - size, 24 - size), (32 + size, 24 + size), colour, -1)
        else:
            cv2.rectangle(image, (4, 24 - size // 3), (60, 24 + size // 3), colour, -1)
        path = str(folder / f"{i:03d}.png")
        cv2.imwrite(path, image)
        rows.append((path, f"item {i // 2}", shape))  # two photos per item
    return rows


def write_config(folder, **extra):
    config = {"backbone": os.path.join(MODELS, "backbone.json"), "segmenter": os.path.join(MODELS, "segmenter.json"),
              "embedding": {"localize": True}, "threads": 1, "category_mode": "predicted_soft", "rerank": "iou", "rerank_depth": 6, "k": 5,
              "training": {"max_epochs": 20, "hidden1": 16, "hidden2": 8}}
    config.update(extra)
    path = folder / f"config{len(list(folder.glob('config*.json')))}.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A cluster as a deployment runs one: a `dask scheduler` process and two `dask worker` processes (each
    under its nanny, one thread), found through a scheduler file, not a LocalCluster inside this process.
    The workers inherit this environment (PYTHONPATH to the package, DS_TEST_MODEL_DIR)."""
    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = str(folder / "scheduler.json")
    log = open(folder / "cluster.log", "w")
    start = lambda *args: subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT)  # noqa: E731
    processes = [start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", scheduler_file)]
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(scheduler_file):
            assert time.monotonic() < deadline and processes[0].poll() is None, "the scheduler did not start: see " + log.name
            time.sleep(0.2)
        processes += [start("distributed.cli.dask_worker", "--scheduler-file", scheduler_file, "--nworkers", "1", "--nthreads", "1",
                            "--no-dashboard", "--name", f"worker-{i}", "--local-directory", str(folder / f"worker-{i}"))
                      for i in range(2)]
        with distributed.Client(scheduler_file=scheduler_file, timeout=60) as c:
            c.wait_for_workers(2, timeout=180)
            yield c
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def test_the_cluster_is_separate_processes(client):
    """The scheduler and both workers are processes of their own, none of them this one."""
    workers = client.run(os.getpid)
    assert len(workers) == 2 and os.getpid() not in workers.values()
    assert client.run_on_scheduler(os.getpid) != os.getpid()


def items_of(paths, config):
    """{key: (label, category, embedding)} over catalogue files."""
    out = {}
    for path in paths:
        p = ds.Pipeline.open(path, ds.PipelineConfig.load(config))
        for key in p.keys:
            item = p.item(key)
            assert key not in out, "a key in two shards"
            out[key] = (item["label"], item["category"], item["embedding"])
    return out


def test_sharded_indexing_equals_one_catalogue_and_reports_bad_rows(client, tmp_path):
    rows = write_images(tmp_path, 24)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bad = [(str(tmp_path / "broken.jpg"), "broken", "disc"), (str(tmp_path / "missing.png"), "missing", "bar")]
    config = write_config(tmp_path)
    report = dsd.index_catalogue(client, rows + bad + rows[:2], config, tmp_path / "shards", shards=3, chunk_rows=4)
    assert report.added == 24 and report.duplicates == 2 and report.rows == 28
    assert sorted(path for path, _ in report.failures) == sorted(path for path, _, _ in bad)
    assert all(reason for _, reason in report.failures)
    assert report.training is not None and report.training["samples"] == 24  # the head, trained once on every shard's items

    one = ds.Pipeline(ds.PipelineConfig.load(config))
    one.index_entries(rows)
    one_path = str(tmp_path / "one.dscat")
    one.save(one_path)
    single, sharded = items_of([one_path], config), items_of(report.shard_paths, config)
    assert sharded.keys() == single.keys()
    for key, (label, category, embedding) in single.items():
        assert sharded[key][:2] == (label, category)
        np.testing.assert_array_equal(sharded[key][2], embedding)
    for i, path in enumerate(report.shard_paths):  # each shard holds exactly the keys it owns
        assert all(ds.shard_of_key(k, 3) == i for k in ds.Pipeline.open(path, ds.PipelineConfig.load(config)).keys)
    fingerprints = {ds.Pipeline.inspect(p)["model_fingerprint"] for p in report.shard_paths}
    assert fingerprints == {report.model_fingerprint} == {ds.ShardSetManifest.load(str(tmp_path / "shards")).model_fingerprint}
    assert not list((tmp_path / "shards").glob(".*.building"))  # only complete shards were published
    with pytest.raises(FileExistsError):
        dsd.index_catalogue(client, rows, config, tmp_path / "shards", shards=3)


def test_an_interrupted_index_job_resumes_where_it_stopped(client, tmp_path):
    rows = write_images(tmp_path, 24) + [(str(tmp_path / "missing.png"), "missing", "bar")]
    config, out = write_config(tmp_path), tmp_path / "shards"

    class Stopped(Exception):
        pass

    def stop_after_one_shard(stage, done, total, future):
        if stage == "shards" and done == 1:
            raise Stopped()  # as if the client died: the job ends before it publishes

    with pytest.raises(Stopped):
        dsd.index_catalogue(client, rows, config, out, shards=3, chunk_rows=4, progress=stop_after_one_shard)
    assert not (out / "shards.json").exists() and (out / dsd.JOB_RECORD).exists()
    deadline = time.monotonic() + 120  # the other shards' tasks, still running, end; they write under the stopped run's name only
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(client.processing().values()), "the stopped run's tasks did not end"
    assert len(list(out.glob(".shard-*.building"))) == 1, "only the shard the client took is where the job keeps it"
    with pytest.raises(FileExistsError, match="another rows"):  # another job's rows would mix with this one's: refused
        dsd.index_catalogue(client, rows[:-2], config, out, shards=3)
    with pytest.raises(FileExistsError, match="another shard count"):
        dsd.index_catalogue(client, rows, config, out, shards=2)

    stages = collections.Counter()
    resumed = dsd.index_catalogue(client, rows, config, out, shards=3, chunk_rows=8, progress=lambda stage, *_: stages.update([stage]))
    assert stages["template"] == 0, "the finished template was made again"
    assert stages["shards"] == 2, "only the two unfinished shards are written"
    published = {"shards.json", "shards.json.lock", "template.dscat", "template.dscat.lock"} | {os.path.basename(p) for p in resumed.shard_paths}
    assert set(os.listdir(out)) == published, "the job's record, markers and temporary shards are gone once it publishes"

    fresh = dsd.index_catalogue(client, rows, config, tmp_path / "fresh", shards=3, chunk_rows=4)
    for field_name in ("rows", "added", "duplicates", "failures", "model_fingerprint"):
        assert getattr(resumed, field_name) == getattr(fresh, field_name), field_name
    assert {**resumed.training, "seconds": 0} == {**fresh.training, "seconds": 0}
    resumed_items, fresh_items = items_of(resumed.shard_paths, config), items_of(fresh.shard_paths, config)
    assert resumed_items.keys() == fresh_items.keys()
    for key, (label, category, embedding) in fresh_items.items():
        assert resumed_items[key][:2] == (label, category)
        np.testing.assert_array_equal(resumed_items[key][2], embedding)


def test_an_unfinished_index_job_can_be_started_over(client, tmp_path):
    rows, config, out = write_images(tmp_path, 12), write_config(tmp_path), tmp_path / "shards"

    def stop(stage, *_):
        if stage == "shards":
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        dsd.index_catalogue(client, rows, config, out, shards=2, progress=stop)
    report = dsd.index_catalogue(client, rows[:6], config, out, shards=2, resume=False)  # other rows: the old parts go
    assert report.added == 6
    assert sorted(items_of(report.shard_paths, config)) == sorted(ds.Pipeline.key_for_path(path) for path, _, _ in rows[:6])
    assert not [name for name in os.listdir(out) if name.startswith(".")]


def test_sharded_search_equals_one_catalogue_and_routes_writes(client, tmp_path):
    rows = write_images(tmp_path, 30)
    config = write_config(tmp_path)
    report = dsd.index_catalogue(client, rows, config, tmp_path / "shards", shards=3, chunk_rows=5)
    # One catalogue holding every item, with the same trained model: the template plus every row.
    one = ds.Pipeline.open(str(tmp_path / "shards" / "template.dscat"), ds.PipelineConfig.load(config))
    one.index_entries(rows)
    assert one.model_fingerprint == report.model_fingerprint and one.has_category_head

    catalogue = dsd.ShardedCatalogue(client, str(tmp_path / "shards"), config)
    assert len(catalogue) == 30 and catalogue.shard_count == 3
    (tmp_path / "unseen").mkdir()
    queries = [path for path, _, _ in rows[::3]] + [path for path, _, _ in write_images(tmp_path / "unseen", 40)[33:]]
    for path in queries:
        for k, category, items in ((None, "", None), (1, "", None), (12, "", None), (4, "square", None), (12, "", False)):
            expected = one.query(path, k=k, category=category, items=items)
            got = catalogue.query(path, k=k, category=category, items=items)
            assert [(r.key, r.distance, r.iou, r.score, r.label) for r in got.results] == \
                   [(r.key, r.distance, r.iou, r.score, r.label) for r in expected.results], (path, k, category, items)
            assert got.searched == expected.searched and got.predicted == expected.predicted

    picture = np.full((48, 64, 3), 255, np.uint8)
    picture[10:30, 10:50] = (5, 5, 5)
    key = 123456789
    owner = ds.shard_of_key(key, 3)
    assert catalogue.add(key, picture, "new shelf", "dark block")  # a category the trained head does not know
    catalogue.save()
    for i, path in enumerate(report.shard_paths):
        shard = ds.Pipeline.open(path, ds.PipelineConfig.load(config))
        assert (key in shard.keys) == (i == owner) and "new shelf" in shard.categories
    assert catalogue.query(picture, k=1).results[0].key == key
    reopened = dsd.ShardedCatalogue(client, str(tmp_path / "shards"), config)  # shards.json follows the new fingerprint
    catalogue.remove(key)
    catalogue.save()
    assert key not in ds.Pipeline.open(report.shard_paths[owner], ds.PipelineConfig.load(config)).keys
    assert len(reopened) == 31 and len(catalogue) == 30


def test_a_worker_killed_mid_build_loses_no_row(client, tmp_path):
    rows = write_images(tmp_path, 24)
    config = write_config(tmp_path, category_mode="off")
    pids = client.run(os.getpid)  # {worker address: pid}
    killed = []

    def kill_holder(stage, done, total, future):
        # The first finished analysis lives only in its worker's memory until the shard is written:
        # kill that worker (SIGKILL, by PID) so Dask must recompute what it held.
        holders = list(client.who_has(future).get(future.key, ())) if stage == "analyze" and not killed else []
        if holders and holders[0] in pids:
            os.kill(pids[holders[0]], signal.SIGKILL)
            killed.append(pids[holders[0]])

    report = dsd.index_catalogue(client, rows, config, tmp_path / "shards", shards=2, chunk_rows=2, progress=kill_holder)
    assert killed, "no worker was killed"
    assert report.added == 24 and not report.failures
    assert sorted(items_of(report.shard_paths, config)) == sorted(ds.Pipeline.key_for_path(path) for path, _, _ in rows)
    client.wait_for_workers(2, timeout=180)  # the nanny restarted it


def test_fine_tuning_runs_once_and_every_shard_embeds_with_it(client, tmp_path):
    rows = write_images(tmp_path, 18)
    config = write_config(tmp_path, backbone=os.path.join(MODELS, "trainable.json"), embedding={"localize": False}, rerank="off",
                          fine_tuning={"enabled": True, "first_stage": 2, "epochs": 2, "batch_size": 4})
    report = dsd.index_catalogue(client, rows, config, tmp_path / "shards", shards=2, chunk_rows=4)
    assert report.fine_tuning is not None and report.fine_tuning["items"] == 9 and report.training is None
    infos = [ds.Pipeline.inspect(p) for p in report.shard_paths + [str(tmp_path / "shards" / "template.dscat")]]
    assert all(info["fine_tuned"] for info in infos)
    assert {info["model_fingerprint"] for info in infos} == {report.model_fingerprint}
    catalogue = dsd.ShardedCatalogue(client, report.shard_paths, config)
    best = catalogue.query(rows[4][0], k=3).results[0]
    assert best.key == ds.Pipeline.key_for_path(rows[4][0]) and 0.0 <= best.match_probability <= 1.0


def test_shards_of_different_models_are_refused(client, tmp_path):
    rows = write_images(tmp_path, 6)
    a = dsd.index_catalogue(client, rows, write_config(tmp_path), tmp_path / "a", shards=1)
    b = dsd.index_catalogue(client, rows[:4], write_config(tmp_path, category_mode="off"), tmp_path / "b", shards=1)
    with pytest.raises(ds.Error) as e:
        dsd.ShardedCatalogue(client, a.shard_paths + b.shard_paths, write_config(tmp_path))
    assert e.value.status == "ModelMismatch"
    with pytest.raises(ds.Error) as e:
        dsd.index_catalogue(client, [(str(tmp_path / "nothing.png"), "x", "y")], write_config(tmp_path), tmp_path / "c", shards=2)
    assert e.value.status == "InvalidArgument"


class _Answer:
    """An actor call's future, already run (a real actor runs the call as soon as it is made)."""

    def __init__(self, value=None, error=None):
        self.value, self.error = value, error

    def result(self, timeout=None):
        if self.error is not None:
            raise self.error
        return self.value


class _FakeShard:
    """A _ShardServer actor as ShardedCatalogue sees it. A lost one raises when called, as distributed's
    Actor does once the scheduler knows its worker is gone; `lost_after` = how many calls it answers first."""

    def __init__(self, path, lost_after=None, save_error=None):
        self.path, self.lost_after, self.save_error = path, lost_after, save_error
        self.calls, self.saves = 0, 0

    def _call(self):
        self.calls += 1
        if self.lost_after is not None and self.calls > self.lost_after:
            raise ValueError("Worker holding Actor was lost.  Status: lost")

    def alive(self):
        self._call()
        return _Answer(self.path)

    def save(self):
        self._call()
        if self.save_error is not None:
            return _Answer(error=self.save_error)
        self.saves += 1
        return _Answer("new fingerprint")


def sharded_catalogue_of(shards):
    catalogue = dsd.ShardedCatalogue.__new__(dsd.ShardedCatalogue)  # no cluster: the actors are fakes
    catalogue._servers, catalogue._paths = shards, [s.path for s in shards]
    catalogue.folder, catalogue._new_categories, catalogue.model_fingerprint = None, [], "old fingerprint"
    return catalogue


def test_a_sharded_save_with_a_lost_shard_saves_nothing_and_names_it():
    shards = [_FakeShard(f"/set/shard-{i}.dscat", lost_after=0 if i == 1 else None) for i in range(3)]
    catalogue = sharded_catalogue_of(shards)
    with pytest.raises(ds.Error) as e:
        catalogue.save()
    assert e.value.status == "Io" and e.value.shard == 1
    assert "shard 1 of 3" in str(e.value) and "/set/shard-1.dscat" in str(e.value) and "nothing was saved" in str(e.value)
    assert [s.saves for s in shards] == [0, 0, 0]  # shard 0's save did not run behind the error
    assert catalogue.model_fingerprint == "old fingerprint"

    # Lost between the check and its save: the shards after it are not asked, the error says what was saved.
    shards = [_FakeShard(f"/set/shard-{i}.dscat", lost_after=1 if i == 1 else None) for i in range(3)]
    with pytest.raises(ds.Error) as e:
        sharded_catalogue_of(shards).save()
    assert e.value.shard == 1 and "saved shards: [0]" in str(e.value) and "not asked to save: [2]" in str(e.value)
    assert [s.saves for s in shards] == [1, 0, 0]


def test_a_sharded_save_that_fails_names_the_shard_and_waits_for_the_others():
    conflict = ds.Error("the file changed since it was opened")
    conflict.status = "Conflict"
    shards = [_FakeShard(f"/set/shard-{i}.dscat", save_error=conflict if i == 1 else None) for i in range(3)]
    catalogue = sharded_catalogue_of(shards)
    with pytest.raises(ds.Error) as e:
        catalogue.save()
    assert e.value.status == "Conflict" and e.value.shard == 1 and "/set/shard-1.dscat" in str(e.value)
    assert "failed shards: [1]" in str(e.value) and "saved shards: [0, 2]" in str(e.value)
    assert catalogue.model_fingerprint == "old fingerprint"
    shards = [_FakeShard(f"/set/shard-{i}.dscat") for i in range(2)]
    catalogue = sharded_catalogue_of(shards)
    catalogue.save()
    assert [s.saves for s in shards] == [1, 1] and catalogue.model_fingerprint == "new fingerprint"
