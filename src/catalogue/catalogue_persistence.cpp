#include "catalogue/catalogue.hpp"

#include "config/config_json.hpp"
#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

// Throws ModelMismatch when the file was built with another model than the configured one.
void check_model(const std::string& path, const char* what, const std::string& stored, const std::string& configured) {
  if (stored != configured)
    throw Error(Status::ModelMismatch, path + ": built with a " + what + " of SHA-256 " + stored.substr(0, 16) + "..., but the configured one is " +
                                           configured.substr(0, 16) + "...; its embeddings would not be comparable");
}

// A serialised adaptation or head, checked against the embeddings it reads.
CategoryPredictor stored_predictor(const std::string& path, const char* what, const std::vector<std::uint8_t>& bytes, int dimension) {
  CategoryPredictor p = CategoryPredictor::deserialize(bytes.data(), bytes.size());
  if (p.dimension() != dimension) throw Error(Status::Corrupt, path + ": " + what + " dimension disagrees with the embeddings");
  return p;
}

// The configuration with the embedding settings the file was made with.
PipelineConfig with_stored_settings(const std::string& path, const CatalogueSections& s, PipelineConfig config) {
  try {
    apply_embedding_settings(s.embedding, config);
  } catch (const std::exception& e) {  // settings this build cannot take: not a catalogue it wrote
    throw Error(Status::Corrupt, path + ": malformed CONF section (" + e.what() + ")");
  }
  return config;
}

}  // namespace

void Catalogue::save(const std::string& path) {
  const std::lock_guard<std::mutex> writing(writer_);
  std::shared_lock<std::shared_mutex> lock(mutex_);
  CatalogueSections s = sections();
  s.sources = sources_;
  file_origin_ = write_catalogue_file(path, s, index(), file_origin_);
}

std::unique_ptr<Catalogue> Catalogue::open(const std::string& path, PipelineConfig config) {
  StoredCatalogue stored = read_catalogue_file(path);
  CatalogueSections& s = stored.sections;
  auto c = std::make_unique<Catalogue>(with_stored_settings(path, s, std::move(config)));
  check_model(path, "backbone", s.backbone_sha256, c->backbone_->fingerprint());
  // The same network fed another input size or normalisation embeds differently (files written before
  // the input was recorded are not checked).
  const nlohmann::json input = backbone_input(c->backbone_->manifest());
  if (!s.backbone_input.is_null() && s.backbone_input != input)
    throw Error(Status::ModelMismatch, path + ": embedded with the backbone's input " + s.backbone_input.dump() + ", but the configured manifest feeds " +
                                           input.dump() + "; its embeddings would not be comparable: index the catalogue again with this manifest");
  if (c->analyzer_.segmenter()) check_model(path, "segmenter", s.segmenter_sha256, c->analyzer_.segmenter()->fingerprint());
  if (stored.index.dimension() != c->backbone_->dimension())
    throw Error(Status::ModelMismatch, path + ": stores " + std::to_string(stored.index.dimension()) + "-d embeddings, the backbone makes " +
                                           std::to_string(c->backbone_->dimension()));
  const int d = stored.index.dimension();
  if (!s.fine_tuned.empty() && (!s.head.empty() || !s.adaptation.empty()))
    throw Error(Status::Corrupt, path + ": holds a fine-tuned network and a category head or adaptation (a fine-tuned catalogue has neither)");
  if (!s.fine_tuned.empty()) {
    FineTunedModel model = FineTunedModel::deserialize(s.fine_tuned.data(), s.fine_tuned.size(), path);
    std::shared_ptr<const FeatureExtractor> embedder = c->fine_tuned_extractor(model, s.fine_tuned);
    c->install_fine_tuned(std::move(embedder), model, std::move(s.fine_tuned), std::move(stored.index));
  } else {
    c->space_ = SearchSpace(std::move(stored.index));
  }
  if (!s.head.empty()) {
    CategoryPredictor head = stored_predictor(path, "category head", s.head, d);
    if (static_cast<std::size_t>(head.category_count()) > c->index().category_count())
      throw Error(Status::Corrupt, path + ": the category head predicts " + std::to_string(head.category_count()) + " categories, but the catalogue defines " +
                                       std::to_string(c->index().category_count()));
    c->categoriser_ = std::make_shared<const HeadCategoryModel>(std::move(head));
  }
  if (!s.adaptation.empty()) c->space_.install(c->space_.project(stored_predictor(path, "embedding adaptation", s.adaptation, d)));
  c->sources_ = std::move(s.sources);
  c->file_origin_ = stored.origin;
  return c;
}

}  // namespace domainsearch::detail
