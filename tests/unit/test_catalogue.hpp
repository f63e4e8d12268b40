#pragma once
// A small labelled catalogue on disk with tiny generated models, shared by the pipeline and evaluation tests.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "domainsearch/pipeline.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

namespace dstest {

using domainsearch::CatalogueEntry;
using domainsearch::CategoryMode;
using domainsearch::PipelineConfig;

// A small catalogue on disk: category "round" holds discs, "square" holds squares; each item differs in
// colour and size. Returns the entries; writes one corrupt file too.
struct Catalogue {
  ScratchDir dir;
  std::vector<CatalogueEntry> entries;
  std::string corrupt;
  PipelineConfig config;

  Catalogue() {
    const std::string d = dir.path().string();
    config.backbone_manifest = write_tiny_backbone(d, 16, 0, 32);
    config.segmenter_manifest = write_dark_object_segmenter(d, 32);
    config.runtime.threads = 1;
    config.category_mode = CategoryMode::Off;
    config.batch_size = 3;
    config.training.max_epochs = 40;
    config.training.hidden1 = 32;
    config.training.hidden2 = 16;
    for (int i = 0; i < 6; ++i)
      for (const char* shape : {"round", "square"}) {
        cv::Mat im(96, 128, CV_8UC3, cv::Scalar(255, 255, 255));
        const cv::Scalar colour(40 * i % 200, 120 - 15 * i, 30 + 20 * i);
        const int r = 18 + 4 * i;
        if (std::string(shape) == "round") cv::circle(im, {64, 48}, r, colour, cv::FILLED);
        else cv::rectangle(im, cv::Rect(64 - r, 48 - r, 2 * r, 2 * r), colour, cv::FILLED);
        const std::string path = d + "/" + shape + std::to_string(i) + ".png";
        cv::imwrite(path, im);
        entries.push_back({path, std::string(shape) + "-" + std::to_string(i), shape, std::nullopt});
      }
    corrupt = d + "/corrupt.jpg";
    write_bytes(corrupt, {0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3});
  }
};


}  // namespace dstest
