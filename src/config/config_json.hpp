#pragma once
// Internal: PipelineConfig <-> JSON, shared by PipelineConfig::load and the catalogue file (which
// records the settings its embeddings were made with), and the range checks of every numeric setting.
#include <nlohmann/json.hpp>

#include "domainsearch/pipeline_config.hpp"

namespace domainsearch::detail {

/// The settings that change what an embedding or mask is: fixed when a catalogue is built.
nlohmann::json embedding_settings(const PipelineConfig& config);
/// Applies embedding_settings() back onto a config. Throws InvalidArgument for an unknown key, a
/// wrong type or a value out of its range (named as in a configuration file: "embedding.localizer.mask_side").
void apply_embedding_settings(const nlohmann::json& settings, PipelineConfig& config);
/// Reads a full configuration object; paths resolve against base_dir. Throws InvalidArgument naming
/// the key at fault: an unknown key, a wrong type, a number out of its range (validate()).
PipelineConfig config_from_json(const nlohmann::json& j, const std::string& base_dir);

/// Checks every numeric setting of `config` against its documented range (the table in
/// config_json.cpp: e.g. threads 0..1024, k 1..100000, soft_threshold (0, 1], max_categories 1..1000)
/// and the rules between settings (trimap_low < trimap_high; hidden layers both 0 or both >= 1).
/// Throws InvalidArgument naming the key as a configuration file names it, the allowed range and the
/// value: `config: "threads" must be in 0..1024, got 100000`. Settings a file cannot hold are named by
/// their member path ("runtime.warmup_runs", "decode.max_file_bytes"). The JSON loader calls it; so
/// must every constructor of a Pipeline, for configurations built in code.
void validate(const PipelineConfig& config);

}  // namespace domainsearch::detail
