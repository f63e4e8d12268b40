#pragma once
// Internal: the networks catalogues run, loaded once per process and shared read-only (ncnn's shape:
// an immutable Net shared by many, per-call state local). Catalogues, the shards of a ShardedCatalogue
// and the object search of one process that name the same model file with the same settings hold one
// loaded copy, kept while any of them uses it. A model file changed on disk (another size or
// modification time) is loaded afresh. Thread-safe.
#include <memory>

#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/localizer.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch::detail {

/// The backbone of `manifest` (its file as loaded by ModelManifest::load) with these settings.
std::shared_ptr<const FeatureExtractor> shared_backbone(const ModelManifest& manifest, const RuntimeOptions& runtime,
                                                        const FeatureExtractorOptions& options);
/// The segmenter of `manifest` with these settings.
std::shared_ptr<const Localizer> shared_segmenter(const ModelManifest& manifest, const RuntimeOptions& runtime, const LocalizerOptions& options);

}  // namespace domainsearch::detail
