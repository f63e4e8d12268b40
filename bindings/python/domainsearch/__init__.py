"""libdomainsearch: domain-specific image similarity search.

    import domainsearch as ds
    config = ds.PipelineConfig.load("examples/configs/grocery.json")
    with ds.Pipeline(config) as pipeline:                # or ds.Pipeline.open("catalogue.dscat", config)
        pipeline.index_csv("catalogue.csv")              # columns path,label,category
        pipeline.train_categories()
        response = pipeline.query("photo.jpg", k=5)      # path, bytes or numpy RGB array
        for r in response.results: print(r.label, r.distance)
        pipeline.save("catalogue.dscat")
    # the end of the block closes the pipeline (frees its models); a later call raises InvalidArgumentError

Errors: every failure raises a domainsearch.Error (a RuntimeError) whose .status is the library's Status
name, as the subclass named after it: InvalidArgumentError (also a ValueError), IoError, FormatVersionError,
CorruptError, ModelMismatchError, DeviceUnavailableError, ImageDecodeError, ImageTooSmallError,
ImageTooLargeError, NotFoundError, AlreadyExistsError, CancelledError, InternalError, OutOfMemoryError,
ConflictError (a save over a file another writer replaced since it was read: reopen, apply the change again).

Process tuning: `import domainsearch` applies, once, the process-wide settings the `domainsearch` command
runs with (src/process/inference_process.hpp), without which LibTorch runs several times slower:
  - glibc malloc: M_MMAP_THRESHOLD 32 MiB and M_TRIM_THRESHOLD 512 MiB, so that LibTorch's activation buffers
    are reused rather than unmapped and faulted back on every forward pass (3x slower indexing without).
    Cost: the process may keep up to 512 MiB of freed memory instead of returning it to the system.
  - OpenBLAS (when the process has one): 1 thread, so that its spinning pool does not fight LibTorch's
    OpenMP threads for the cores. Cost: matrix products that go through that OpenBLAS (numpy's and
    torch's may) run on one thread; LibTorch's own kernels keep theirs (torch.get_num_threads()).
To opt out, set DOMAINSEARCH_NO_PROCESS_TUNING=1 in the environment before the import (any value but
empty or 0); `domainsearch.process_tuned` tells whether the settings are applied, and
`domainsearch.tune_process_for_inference()` applies them later.
"""
import os as _os

import torch  # noqa: F401  (loads LibTorch first, so one copy of it lives in the process)

from . import _domainsearch
from ._domainsearch import (AlreadyExistsError, CancelledError, ConfidenceModel, ConflictError, CorruptError, DeviceUnavailableError, Error,
                            FineTuningOptions, FormatVersionError, FoundObject, ImageAnalysis, ImageDecodeError, ImageTooLargeError,
                            ImageTooSmallError, Index, InternalError, InvalidArgumentError, IoError, Localization,
                            ModelMismatchError, NoMatchRules, NotFoundError, ObjectsResponse, OutOfMemoryError, Pipeline, PipelineConfig, QueryResponse,
                            QueryResult, ShardSetManifest, __version__, merge_shard_responses, shard_of_key,
                            train_category_model_on_shards)

__all__ = ["AlreadyExistsError", "CancelledError", "ConfidenceModel", "ConflictError", "CorruptError", "DeviceUnavailableError", "Error",
           "FineTuningOptions", "FormatVersionError", "FoundObject", "ImageAnalysis", "ImageDecodeError", "ImageTooLargeError",
           "ImageTooSmallError", "Index", "InternalError", "InvalidArgumentError", "IoError", "Localization",
           "ModelMismatchError", "NoMatchRules", "NotFoundError", "ObjectsResponse", "OutOfMemoryError", "Pipeline", "PipelineConfig", "QueryResponse",
           "QueryResult", "ShardSetManifest", "__version__", "merge_shard_responses", "process_tuned", "shard_of_key",
           "train_category_model_on_shards", "tune_process_for_inference"]

#: Whether this process runs with the inference settings (see above): True unless DOMAINSEARCH_NO_PROCESS_TUNING
#: was set at import and tune_process_for_inference() was not called since.
process_tuned = False


def _process_tuning_opted_out() -> bool:
    return _os.environ.get("DOMAINSEARCH_NO_PROCESS_TUNING", "") not in ("", "0")


def tune_process_for_inference() -> None:
    """Applies the process-wide inference settings (see the package's docstring); the import does unless
    DOMAINSEARCH_NO_PROCESS_TUNING is set. Sets domainsearch.process_tuned."""
    global process_tuned
    _domainsearch.tune_process_for_inference()
    process_tuned = True


if not _process_tuning_opted_out():
    tune_process_for_inference()
