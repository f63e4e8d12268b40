// Power-cut safety of saving: a child process saves one of two versions of an index over and over;
// the parent SIGKILLs it at random moments, many times. The file on disk must always be a complete
// old or new version that loads.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "domainsearch/index.hpp"
#include "test_util.hpp"

using namespace domainsearch;

namespace {

// Version v: 4000 items of dimension 64; key 0's embedding starts with v, so versions are told apart.
Index version(int v) {
  Index index(64);
  const auto c = index.add_category("c");
  auto data = dstest::random_vectors(4000, 64, 99);
  std::vector<std::uint64_t> keys(4000);
  std::vector<std::int32_t> cats(4000, c);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  data[0] = static_cast<float>(v);
  index.add_batch(ItemBatch{keys.size(), keys.data(), cats.data(), data.data()});
  return index;
}

}  // namespace

TEST_CASE("SIGKILL at random points while saving never leaves a broken file", "[crash]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("index.dsidx");
  version(1).save(path);
  std::mt19937 rng(2024);
  int kills = 0;
  for (int round = 0; round < 40; ++round) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // A fresh Index each time: one that saved the file would (rightly) refuse to replace the other's save.
      for (int i = 0;; ++i) version(1 + i % 2).save(path);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20000 + rng() % 60000));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    kills += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    const Index loaded = Index::load(path);  // throws if the file is broken
    REQUIRE(loaded.size() == 4000);
    const float marker = loaded.get(0).embedding[0];
    CHECK((marker == 1.0f || marker == 2.0f));
  }
  CHECK(kills == 40);
  // Killed writers leave temporary files behind, never the target half-written; the next save removes them.
  const auto temporaries = [&] {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      n += entry.path().filename().string().find(".tmp.") != std::string::npos;
    return n;
  };
  WARN("SIGKILLs survived: " << kills << ", temporary files left by killed writers: " << temporaries());
  version(3).save(path);
  CHECK(temporaries() == 0);
}
