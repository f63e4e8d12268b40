#pragma once
// Internal: PipelineConfig <-> JSON, shared by PipelineConfig::load and the catalogue file (which
// records the settings its embeddings were made with).
#include <nlohmann/json.hpp>

#include "domainsearch/pipeline.hpp"

namespace domainsearch::detail {

/// The settings that change what an embedding or mask is: fixed when a catalogue is built.
nlohmann::json embedding_settings(const PipelineConfig& config);
/// Applies embedding_settings() back onto a config.
void apply_embedding_settings(const nlohmann::json& settings, PipelineConfig& config);
/// The configuration file's names of the modes ("predicted_soft", "iou"...).
const char* category_mode_name(CategoryMode mode);
const char* rerank_mode_name(RerankMode mode);
/// Reads a full configuration object; paths resolve against base_dir. Throws InvalidArgument.
PipelineConfig config_from_json(const nlohmann::json& j, const std::string& base_dir);

}  // namespace domainsearch::detail
