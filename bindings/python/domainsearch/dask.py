"""Distributed indexing and sharded search on a Dask cluster (Debian: python3-distributed).

    from dask.distributed import Client, LocalCluster
    import domainsearch.dask as dsd

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    rows = [(path, label, category), ...]                     # or (path, label, category, key)
    report = dsd.index_catalogue(client, rows, "grocery.json", "/shared/shards", shards=4)
    catalogue = dsd.ShardedCatalogue(client, "/shared/shards", "grocery.json")
    response = catalogue.query("photo.jpg", k=5)             # a QueryResponse, as Pipeline.query gives

The layout on disk is the one `domainsearch index --shards N` writes (include/domainsearch/shards.hpp): a
folder with template.dscat (the trained model, every category, no items), shard-0000i-of-0000N.dscat and
shards.json. Every path (rows, configuration, out_dir) must be readable at the same path by the client and
every worker (a shared or replicated filesystem), and `config` names a JSON configuration file.

How the work is split:
- the rows are cut into chunks; each chunk is one task that decodes and embeds its images with a model loaded
  once per worker process (not per task); unreadable rows are collected as (path, reason), not fatal;
- training that needs the whole catalogue runs once: fine-tuning on the template before any image is
  embedded (the shards then embed with the fine-tuned network), or the category head across the shards'
  stored embeddings afterwards (train_category_model_on_shards), installed into every shard;
- shard i receives the rows whose key k has k mod N == i (shard_of_key), and is written under a temporary
  name, then published by an atomic rename once complete; shards.json is written last.
A worker that dies mid-build loses only the analyses it held: Dask recomputes them from their task (the
client keeps the futures), so no row is lost; `retries` re-runs a task that raised.

A job that stops before it publishes (the client killed, Ctrl-C, a task that failed every retry) resumes
when index_catalogue is called again with the same rows, configuration file and shard count: out_dir keeps
a record of the job (.index-job.json) and of each finished part (the template, each written shard, with
what it reported), and only the rest is redone; the report is the one an uninterrupted job gives. Other
rows or settings for an unfinished job are refused, naming what differs (resume=False starts over).
"""
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from distributed import WorkerPlugin, as_completed

from . import _domainsearch as _ds
from . import _process_tuning_opted_out, tune_process_for_inference

TEMPLATE = "template.dscat"
JOB_RECORD = ".index-job.json"  # an unfinished index_catalogue job in its out_dir; removed when it publishes

# One Pipeline per (configuration, catalogue file, modification time) in each worker process: the analyse
# tasks share it (Pipeline.analyze is thread-safe), so models load once per worker, not per task.
_models = {}
_models_lock = threading.Lock()


def _model(config_path: str, catalogue_path: str):
    key = (config_path, catalogue_path, os.stat(catalogue_path).st_mtime_ns)
    with _models_lock:
        if key not in _models:
            _models.clear()  # an older template of this build, or another build's: release its models
            _models[key] = _ds.Pipeline.open(catalogue_path, _ds.PipelineConfig.load(config_path))
        return _models[key]


class _InferenceProcess(WorkerPlugin):
    """Makes each worker process, present or restarted later, an inference process
    (domainsearch.tune_process_for_inference): otherwise LibTorch's buffers are unmapped and faulted back on
    every forward pass (bench/dask_scaling.py, MobileNetV2 on this machine: 9.1 instead of 41.5 photos/s per worker).
    Importing domainsearch in the worker (as unpickling this plugin does) applies the settings already; both
    leave a worker whose environment sets DOMAINSEARCH_NO_PROCESS_TUNING as it is."""
    name = "domainsearch-inference-process"

    def setup(self, worker):
        if not _process_tuning_opted_out():
            tune_process_for_inference()


def _tune_workers(client):
    client.register_worker_plugin(_InferenceProcess())


def _row_key(row) -> int:
    return row[3] if len(row) > 3 and row[3] is not None else _ds.Pipeline.key_for_path(row[0])


def _categories_in_order(rows) -> List[str]:
    """The categories as one catalogue indexing `rows` would number them (first appearance)."""
    seen = {}
    for row in rows:
        seen.setdefault(row[2], None)
    return list(seen)


# ---------------------------------------------------------------- tasks (run on the workers)

def _build_template(config_path, categories, rows, template_path, fine_tune):
    pipeline = _ds.Pipeline(_ds.PipelineConfig.load(config_path))
    for category in categories:  # one at a time: a name the library refuses costs only its own rows
        try:
            pipeline.add_categories([category])
        except _ds.Error as e:
            if e.status != "InvalidArgument":
                raise
    report = pipeline.fine_tune([tuple(r[:3]) for r in rows]) if fine_tune else None
    pipeline.save(template_path)
    return report


def _analyze_chunk(config_path, template_path, rows):
    """[(key, label, category, path, ImageAnalysis)], [(path, reason)] for a chunk of rows: decoded and
    analysed as indexing does (Pipeline.analyze_entries: batches, a bad image costs only itself, no
    full-size localisation kept in memory)."""
    analysed = _model(config_path, template_path).analyze_entries([tuple(r[:3]) for r in rows])
    items, failures = [], []
    for row, (analysis, error) in zip(rows, analysed):
        if analysis is None:
            failures.append((row[0], error))
        else:
            items.append((_row_key(row), row[1], row[2], row[0], analysis))
    return items, failures


def _failures_of(chunk):
    return chunk[1]


def _write_shard(config_path, template_path, path, *chunks):
    shard = _ds.Pipeline.open(template_path, _ds.PipelineConfig.load(config_path))
    for items, _ in chunks:
        for key, label, category, source, analysis in items:
            shard.add_analyzed(key, analysis, category, label, source)
    shard.save(path)
    return len(shard)


def _train_template(config_path, template_path, shard_paths):
    template = _ds.Pipeline.open(template_path, _ds.PipelineConfig.load(config_path))
    report = _ds.train_category_model_on_shards(template, list(shard_paths))
    template.save(template_path)
    return report


def _install_category_model(config_path, template_path, shard_path):
    config = _ds.PipelineConfig.load(config_path)
    shard = _ds.Pipeline.open(shard_path, config)
    shard.install_category_model(_ds.Pipeline.open(template_path, config))
    shard.save(shard_path)
    return shard.model_fingerprint


# ---------------------------------------------------------------- the job's record, for resuming

def _job_settings(config, rows, shards, train):
    """What makes one job's parts reusable by another: the configuration file's bytes, the rows (after
    duplicates are dropped), the shard count and whether it trains. (chunk_rows and retries change only how
    the work is cut.)"""
    with open(config, "rb") as f:
        config_digest = hashlib.sha256(f.read()).hexdigest()
    rows_digest = hashlib.sha256()
    for row in rows:
        rows_digest.update(json.dumps([str(value) for value in row]).encode("utf-8", "surrogateescape") + b"\n")
    return {"format": 1, "configuration": config_digest, "rows": rows_digest.hexdigest(), "shard count": shards, "train": train}


def _write_json(path, value):
    """Writes JSON to path atomically (a reader sees the old file or the whole new one)."""
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


class _JobRecord:
    """The record of an index job in out_dir: its settings, and a marker per finished part (".NAME.done.json"
    holding what the part reported) written after the part's file is complete."""

    def __init__(self, out_dir, settings, resume):
        self._out_dir = out_dir
        path = os.path.join(out_dir, JOB_RECORD)
        if os.path.exists(path):
            earlier = self._read(path)
            if earlier != settings and resume:
                differ = sorted(k for k in settings if earlier.get(k) != settings[k]) if earlier else ["record (unreadable)"]
                raise FileExistsError(f"{out_dir} holds an unfinished index job with another {', '.join(differ)}; call index_catalogue "
                                      f"with the same rows, configuration file and shard count to resume it, or with resume=False to start over")
            if not resume:
                self._discard_parts()
        _write_json(path, settings)

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _marker(self, part):
        return os.path.join(self._out_dir, f".{part}.done.json")

    def _discard_parts(self):
        """Removes the markers, the unpublished shards and what tasks wrote under their run's name (with
        the save locks of both, which nothing else uses)."""
        _discard_job_files(self._out_dir)

    def finished(self, part):
        """What `part` reported when it finished in an earlier run of this job, or None."""
        return self._read(self._marker(part))

    def finish(self, part, report):
        _write_json(self._marker(part), report)

    def close(self):
        """The job published: its record goes."""
        _discard_job_files(self._out_dir)


def _discard_job_files(out_dir):
    """Removes a job's record and parts from out_dir (never a published file)."""
    for name in os.listdir(out_dir):
        ours = name.startswith(".") and name.endswith((".done.json", ".building", ".building.lock"))
        if ours or ".part-" in name or name == JOB_RECORD:
            os.remove(os.path.join(out_dir, name))


def _put_in_place(part, path):
    """A task's file, written under its run's name, moved to where the job keeps it: a task left running
    by an interrupted run writes only under that run's name, never over the files of the run resuming it."""
    os.replace(part, path)


# ---------------------------------------------------------------- indexing

@dataclass
class ShardedIndexReport:
    folder: str
    shard_paths: List[str]
    rows: int                                  # rows given
    added: int                                 # items in the shards
    duplicates: int                            # rows whose key an earlier row already had (skipped)
    failures: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason) of rows not indexed
    model_fingerprint: str = ""
    fine_tuning: Optional[dict] = None         # Pipeline.fine_tune's report, when the configuration fine-tunes
    training: Optional[dict] = None            # train_category_model_on_shards's report, when a head was trained
    seconds: float = 0.0


def index_catalogue(client, rows: Sequence[tuple], config: str, out_dir: str, shards: int, *, train: bool = True,
                    chunk_rows: int = 32, retries: int = 2, resume: bool = True,
                    progress: Optional[Callable[[str, int, int, object], None]] = None) -> ShardedIndexReport:
    """Builds the shard set `out_dir` from rows (path, label, category[, key]) on the client's workers.

    The key defaults to Pipeline.key_for_path(path), as a single catalogue's. `train` trains what the
    configuration asks for (fine-tuning, or else the category head when there are 2+ categories), once.
    progress(stage, done, total, future) is called as tasks finish (stages "template", "analyze", "shards",
    "train", "install"); Dask's dashboard shows the same tasks. out_dir must not hold a shard set already.
    An unfinished job in out_dir is resumed (see the module's docstring); resume=False starts it over.
    Raises domainsearch.Error (InvalidArgument) when no row can be indexed; a row that cannot be read is
    reported in the report's failures.
    """
    if shards < 1:
        raise ValueError("shards must be at least 1")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    start = time.monotonic()
    config = os.path.abspath(config)
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(os.path.join(out_dir, "shards.json")):
        if os.path.exists(os.path.join(out_dir, JOB_RECORD)):  # a job that published but stopped before its clean-up
            _discard_job_files(out_dir)
        raise FileExistsError(f"{out_dir} already holds a shard set; build a new one in another folder")
    os.makedirs(out_dir, exist_ok=True)
    rows, duplicates = _unique_rows(rows)
    given = len(rows) + duplicates
    failures = [(row[0], "no category given") for row in rows if not row[2]]
    rows = [row for row in rows if row[2]]
    categories = _categories_in_order(rows)
    settings = _ds.PipelineConfig.load(config)
    trains_head = train and not settings.fine_tuning.enabled and len(categories) >= 2
    fine_tunes = train and settings.fine_tuning.enabled and len(categories) >= 1

    job = _JobRecord(out_dir, _job_settings(config, rows, shards, train), resume)
    run = f"{os.getpid()}-{time.time_ns()}"  # this run's name for the files its tasks write
    _tune_workers(client)
    template = os.path.join(out_dir, TEMPLATE)
    made = job.finished(TEMPLATE) if os.path.exists(template) else None
    if made is None:
        part = f"{template}.part-{run}"
        built = client.submit(_build_template, config, categories, rows, part, fine_tunes, retries=retries, pure=False,
                              key=f"domainsearch-template-{run}")
        made = {"fine_tuning": _gather(built, "template", progress)[0]}
        _put_in_place(part, template)
        job.finish(TEMPLATE, made)
    elif made["fine_tuning"] is not None:  # as the report was: (path, reason) pairs, not JSON's lists
        made["fine_tuning"]["dropped"] = [tuple(d) for d in made["fine_tuning"].get("dropped", [])]

    names = [_ds.ShardSetManifest.shard_file_name(i, shards) for i in range(shards)]
    building = [os.path.join(out_dir, f".{name}.building") for name in names]
    written = {i: job.finished(names[i]) for i in range(shards) if _shard_kept(building[i], os.path.join(out_dir, names[i]))}
    written = {i: report for i, report in written.items() if report is not None}
    _write_shards(client, [i for i in range(shards) if i not in written], rows, shards, chunk_rows, config, template,
                  building, run, retries, progress, lambda i, report: (written.__setitem__(i, report), job.finish(names[i], report)))
    added = sum(written[i]["added"] for i in range(shards))
    failures += [tuple(failure) for i in range(shards) for failure in written[i]["failures"]]
    if added == 0:
        raise _error("InvalidArgument", f"none of the {len(rows)} rows could be indexed (first failure: {failures[:1]}); "
                                        f"no shard set was published in {out_dir}")

    training = None
    if trains_head:
        training = _gather(client.submit(_train_template, config, template, building, retries=retries, pure=False), "train", progress)[0]
        _gather([client.submit(_install_category_model, config, template, path, retries=retries, pure=False) for path in building],
                "install", progress)
    for path, name in zip(building, names):
        os.replace(path, os.path.join(out_dir, name))
    manifest = _ds.ShardSetManifest()
    manifest.shards = names
    manifest.template_file = TEMPLATE
    manifest.model_fingerprint = _ds.Pipeline.inspect(template)["model_fingerprint"]
    manifest.save(out_dir)
    job.close()
    return ShardedIndexReport(out_dir, manifest.shard_paths(out_dir), given, added, duplicates, failures,
                              manifest.model_fingerprint, made["fine_tuning"], training, time.monotonic() - start)


def _shard_kept(building, published):
    """Whether a shard an earlier run wrote is still there, under its temporary name (a run stopped while
    publishing has renamed it: it is put back, to be published with the others)."""
    if not os.path.exists(building) and os.path.exists(published):
        os.replace(published, building)
    return os.path.exists(building)


def _write_shards(client, todo, rows, shards, chunk_rows, config, template, building, run, retries, progress, on_written):
    """Analyses the rows of the shards `todo` in chunks and writes each shard to building[i] (through a
    file of this run's name); on_written(i, {"added": n, "failures": [(path, reason)]}) once it is there."""
    chunks = {i: [] for i in todo}
    for row in rows:
        part = chunks.get(_ds.shard_of_key(_row_key(row), shards))
        if part is None:
            continue
        if not part or len(part[-1]) == chunk_rows:
            part.append([])
        part[-1].append(row)
    analysed = {i: [client.submit(_analyze_chunk, config, template, chunk, retries=retries, pure=False) for chunk in chunks[i]] for i in todo}
    _wait([f for i in todo for f in analysed[i]], "analyze", progress)  # the analyses stay on the workers
    failures = {i: [failure for part in client.gather([client.submit(_failures_of, f, pure=False) for f in analysed[i]]) for failure in part]
                for i in todo}
    writes = {client.submit(_write_shard, config, template, f"{building[i]}.part-{run}", *analysed[i], retries=retries, pure=False): i
              for i in todo}

    def written(future, added):
        i = writes[future]
        _put_in_place(f"{building[i]}.part-{run}", building[i])
        on_written(i, {"added": added, "failures": failures[i]})

    _wait(list(writes), "shards", progress, written)


def _unique_rows(rows):
    """Rows with their keys' first occurrence only (a key is one item), and how many were dropped."""
    rows = list(rows)
    unique, seen = [], set()
    for row in rows:
        row = tuple(row)
        if len(row) not in (3, 4):
            raise ValueError(f"a row is (path, label, category) or (path, label, category, key), got {row!r}")
        key = _row_key(row)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique, len(rows) - len(unique)


def _wait(futures, stage, progress, on_result=None):
    """Waits for futures; as each completes, on_result(future, result) (when given), then
    progress(stage, done, total, future); raises the first task error."""
    done = 0
    for future in as_completed(futures):
        done += 1
        if future.status == "error":
            future.result()
        if on_result is not None:
            on_result(future, future.result())
        if progress is not None:
            progress(stage, done, len(futures), future)


def _gather(futures, stage, progress):
    """_wait, then the results (small ones only: they come to the client), in order."""
    futures = futures if isinstance(futures, list) else [futures]
    _wait(futures, stage, progress)
    return [f.result() for f in futures]


def _error(status: str, message: str):
    e = _ds.Error(message)
    e.status = status
    return e


# ---------------------------------------------------------------- sharded search

class _ShardServer:
    """A Dask actor: one shard catalogue kept open on one worker."""

    def __init__(self, config_path, shard_path):
        self.path = shard_path
        self.pipeline = _ds.Pipeline.open(shard_path, _ds.PipelineConfig.load(config_path))

    def describe(self):
        return self.pipeline.model_fingerprint, len(self.pipeline), self.pipeline.categories

    def misplaced(self, shard, shards):
        """How many of this shard's keys another shard owns (0 when it is shard `shard` of `shards`)."""
        return sum(1 for key in self.pipeline.keys if _ds.shard_of_key(key, shards) != shard)

    def analyze(self, image):
        return self.pipeline.analyze(image)

    def search(self, analysis, k, category, items):
        return self.pipeline.query_analyzed(analysis, k, category, as_shard=True, items=items) if len(self.pipeline) else None

    def add(self, key, image, category, label, replace):
        return (self.pipeline.upsert if replace else self.pipeline.add)(key, image, category, label)

    def add_categories(self, names):
        self.pipeline.add_categories(names)

    def remove(self, key):
        self.pipeline.remove(key)

    def alive(self):
        """Answers while the actor (and its shard's changes) live: ShardedCatalogue.save asks every shard first."""
        return self.path

    def save(self):
        self.pipeline.save(self.path)
        return self.pipeline.model_fingerprint


class ShardedCatalogue:
    """A shard set searched on a Dask cluster: each shard open on a worker (an actor), a query embedded once
    and searched in every shard at once, answers merged exactly (merge_shard_responses): the same keys,
    distances and order as one catalogue holding every item.

    `shards` is a shard set folder (shards.json) or a list of shard files; `config` a JSON configuration file
    (its query settings apply). Images are paths (readable by the workers), bytes or numpy uint8 arrays.
    Adds and removes go to the shard that owns the key; save() writes every shard back. Methods are not
    meant to be called from several client threads at once. Raises domainsearch.Error (ModelMismatch) when
    the shards were not built with one model.
    """

    def __init__(self, client, shards, config: str):
        self.client = client
        self.folder = shards if isinstance(shards, (str, os.PathLike)) else None
        paths = _ds.ShardSetManifest.load(str(shards)).shard_paths(str(shards)) if self.folder else [str(p) for p in shards]
        if not paths:
            raise ValueError("no shard files given")
        config = os.path.abspath(config)
        self.config = _ds.PipelineConfig.load(config)
        _tune_workers(client)
        workers = sorted(client.scheduler_info()["workers"])
        self._paths = [os.path.abspath(path) for path in paths]
        self._servers = [client.submit(_ShardServer, config, path, actor=True, workers=[workers[i % len(workers)]],
                                       pure=False).result() for i, path in enumerate(self._paths)]
        described = [s.describe().result() for s in self._servers]
        for path, (fingerprint, _, _) in zip(paths, described):
            if fingerprint != described[0][0]:
                raise _error("ModelMismatch", f"{path}: built with another model or category table than {paths[0]}; "
                                              "shards of one catalogue share one trained model")
        if self.folder and _ds.ShardSetManifest.load(str(self.folder)).model_fingerprint != described[0][0]:
            raise _error("ModelMismatch", f"{self.folder}: the shards' model fingerprint differs from the one shards.json records")
        # Writes are routed by position: shard i must hold only keys it owns (a list in another order would
        # put a key in two shards).
        for i, (path, server) in enumerate(zip(paths, self._servers)):
            if server.misplaced(i, len(paths)).result():
                raise _error("InvalidArgument", f"{path} holds keys of another shard: give the shard files in shard order "
                                                "(shard i holds the keys k with k mod N == i), or the shard set folder")
        self.model_fingerprint = described[0][0]
        self._categories = list(described[0][2])
        self._new_categories = []

    def __len__(self):
        return sum(s.describe().result()[1] for s in self._servers)

    @property
    def shard_count(self):
        return len(self._servers)

    def analyze(self, image):
        """The query's ImageAnalysis, computed once (by the first shard's worker)."""
        return self._servers[0].analyze(image).result()

    def query(self, image, k: Optional[int] = None, category: str = "", items: Optional[bool] = None):
        """As Pipeline.query: items (the default, unless the configuration says otherwise) or, items=False, photos."""
        return self.query_analyzed(self.analyze(image), k, category, items)

    def query_analyzed(self, analysis, k: Optional[int] = None, category: str = "", items: Optional[bool] = None):
        answers = [s.search(analysis, k, category, items) for s in self._servers]
        responses = [r for r in (a.result() for a in answers) if r is not None]
        if not responses:
            raise _error("NotFound", "the catalogue is empty: every shard is empty")
        return _ds.merge_shard_responses(responses, self.config, k, category, items)

    def add(self, key: int, image, category: str, label: str = "", replace: bool = False) -> bool:
        """Adds (replace=True: upserts) an item in the shard that owns `key`; a new category is registered in
        every shard first, so the shards keep one category table. Returns Pipeline.add's untrained flag."""
        if category not in self._categories:
            for s in self._servers:
                s.add_categories([category]).result()
            self._categories.append(category)
            self._new_categories.append(category)
        return self._servers[_ds.shard_of_key(key, len(self._servers))].add(key, image, category, label, replace).result()

    def remove(self, key: int):
        self._servers[_ds.shard_of_key(key, len(self._servers))].remove(key).result()

    def _shard_error(self, status: str, i: int, message: str):
        e = _error(status, f"shard {i} of {len(self._servers)} ({self._paths[i]}): {message}")
        e.shard = i
        return e

    def _check_every_shard_alive(self, timeout: float):
        """Raises domainsearch.Error (Io, .shard = its number) naming the first shard whose actor does not
        answer (its worker was lost, and with it the shard's unsaved changes); asks them all before
        returning, so that nothing is written unless every shard can be."""
        pings = []
        for i, server in enumerate(self._servers):
            try:
                pings.append(server.alive())  # raises at once when Dask already knows the worker is gone
            except Exception as lost:  # noqa: BLE001 (Dask raises ValueError, OSError, CommClosedError...)
                raise self._lost(i, lost) from lost
        for i, ping in enumerate(pings):
            try:
                ping.result(timeout=timeout)
            except Exception as lost:  # noqa: BLE001
                raise self._lost(i, lost) from lost

    def _lost(self, i: int, cause: Exception):
        return self._shard_error("Io", i, f"its actor does not answer ({type(cause).__name__}: {cause}): its worker was lost, and "
                                          "with it the changes made there since the shard set was opened; nothing was saved. "
                                          "Open the shard set again and redo those changes")

    def save(self, timeout: float = 60.0):
        """Writes every shard back to its file; for a shard set folder, also the template (categories added
        since, so retraining across the shards knows them) and shards.json's fingerprint.

        Every shard's actor must answer first (`timeout` seconds each), else nothing is written and
        domainsearch.Error (status Io, .shard = the lost shard's number) names the lost shard. The shards
        then save at once, each atomically. This is not all or nothing: should one fail even so (Conflict:
        another writer changed its file; or its worker dies during the save), the error names every failed
        shard and the ones that were saved, and shards.json and the template are left as they were. The
        saved shards then hold the new items (after train(): the new model, whose fingerprint no longer
        matches shards.json and the unsaved shards): re-run the job that made the change, or rebuild the set."""
        self._check_every_shard_alive(timeout)
        saving, failed, not_asked = [], [], []
        for i, server in enumerate(self._servers):
            if failed:  # a shard lost since the check: ask no further shard to save
                not_asked.append(i)
                continue
            try:
                saving.append(server.save())  # saving[i] is shard i's
            except Exception as e:  # noqa: BLE001
                failed.append((i, e))
        fingerprints = []
        for i, future in enumerate(saving):  # wait for every save asked for, so none finishes behind the error
            try:
                fingerprints.append(future.result())
            except Exception as e:  # noqa: BLE001
                failed.append((i, e))
        if failed:
            failed.sort(key=lambda f: f[0])
            first, cause = failed[0]
            failed_shards = [i for i, _ in failed]
            saved = [i for i in range(len(saving)) if i not in failed_shards]
            status = getattr(cause, "status", None) or "Io"
            raise self._shard_error(status, first, f"the save failed ({type(cause).__name__}: {cause}); failed shards: {failed_shards}, "
                                                   f"saved shards: {saved}, shards not asked to save: {not_asked}; "
                                                   "shards.json and the template were not updated") from cause
        self.model_fingerprint = fingerprints[0]
        if self.folder:
            manifest = _ds.ShardSetManifest.load(str(self.folder))
            if self._new_categories:
                template = os.path.join(str(self.folder), manifest.template_file)
                model = _ds.Pipeline.open(template, self.config)
                model.add_categories(self._new_categories)
                model.save(template)
                self._new_categories = []
            manifest.model_fingerprint = self.model_fingerprint
            manifest.save(str(self.folder))
