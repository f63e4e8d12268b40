"""libdomainsearch: domain-specific image similarity search.

    import domainsearch as ds
    config = ds.PipelineConfig.load("examples/configs/grocery.json")
    pipeline = ds.Pipeline(config)
    pipeline.index_csv("catalogue.csv")          # columns path,label,category
    pipeline.train_categories()
    response = pipeline.query("photo.jpg", k=5)  # path, bytes or numpy RGB array
    for r in response.results: print(r.label, r.distance)
"""
import torch  # noqa: F401  (loads LibTorch first, so one copy of it lives in the process)

from ._domainsearch import (Error, ImageAnalysis, Index, Localization, Pipeline, PipelineConfig, QueryResponse, QueryResult,
                            ShardSetManifest, __version__, merge_shard_responses, shard_of_key, train_category_model_on_shards)

__all__ = ["Error", "ImageAnalysis", "Index", "Localization", "Pipeline", "PipelineConfig", "QueryResponse", "QueryResult",
           "ShardSetManifest", "__version__", "merge_shard_responses", "shard_of_key", "train_category_model_on_shards"]
# Distributed indexing and sharded search on Dask: `import domainsearch.dask` (needs python3-distributed).
