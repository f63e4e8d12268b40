// Saving in a directory other users may write to, and writers that race (docs/format.md, "Writers"):
// temporaries are created exclusively under unpredictable names and never through a planted link; the
// replaced file keeps its mode and owner; a symbolic link to the file stays a link; dead writers'
// temporaries are cleaned up and live writers' kept; the writer lock excludes within and across
// processes; every save counts a generation, and a save over a file that changed fails with Conflict.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <regex>
#include <set>

#include "domainsearch/error.hpp"
#include "domainsearch/index.hpp"
#include "io/file_safety.hpp"
#include "io/section_file.hpp"
#include "io/writer_lock.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using detail::SectionReader;
using detail::SectionWriter;
using detail::WriterLock;
namespace fs = std::filesystem;

namespace {

const detail::FileKind kTestKind{{'D', 'S', 'T', 'E', 'S', 'T', '\0', '\0'}, 1, 0, "test"};
const detail::FileKind kIndexKind{{'D', 'S', 'I', 'N', 'D', 'E', 'X', '\0'}, 1, 0, "index"};

// Saves a file holding `payload`; returns the generation written.
std::uint64_t save(const std::string& path, const std::string& payload, std::optional<detail::FileVersion> expected = std::nullopt) {
  SectionWriter writer(path, kTestKind, expected);
  writer.add_section(detail::tag("DATA"), payload.data(), payload.size());
  writer.commit();
  return writer.generation();
}

std::string payload_of(const std::string& path) {
  const auto bytes = SectionReader(path, kTestKind).read(detail::tag("DATA"), 1 << 20);
  return std::string(bytes.begin(), bytes.end());
}

std::string text_of(const std::string& path) {
  const auto bytes = dstest::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_text(const std::string& path, const std::string& text) { dstest::write_bytes(path, {text.begin(), text.end()}); }

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

std::size_t temporaries_in(const fs::path& dir) {
  std::size_t n = 0;
  for (const std::string& name : entries(dir)) n += name.find(".tmp.") != std::string::npos;
  return n;
}

mode_t permissions_of(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

mode_t current_umask() {
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

// A child process that takes the writer lock of `path`, reports it holds it by writing one byte to the
// pipe `ready`, then keeps it for `hold` and exits (releasing it). Returns once the child holds it.
pid_t fork_lock_holder(const std::string& path, const int (&ready)[2], std::chrono::milliseconds hold) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const WriterLock lock(path);
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) ::_exit(1);
    ::usleep(static_cast<useconds_t>(hold.count() * 1000));
    ::_exit(0);
  }
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  return child;
}

// Runs `writer` in `count` forked processes at once; each must return (and exit with) 0.
void run_writer_processes(int count, const std::function<int()>& writer) {
  std::vector<pid_t> children;
  for (int w = 0; w < count; ++w) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(writer());
    children.push_back(child);
  }
  for (const pid_t child : children) {
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
}

std::string conflict_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.status() == Status::Conflict);
    return e.what();
  }
  FAIL("no Conflict thrown");
  return {};
}

}  // namespace

TEST_CASE("a symbolic link planted under a temporary or lock name is never followed", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest"), victim = dir.file("victim");
  write_text(victim, "precious");
  save(path, "v1");
  // The names older builds used (<file>.tmp.<pid>.<counter>) for this process, and one with a dead
  // writer's pid that the clean-up inspects.
  const std::string base = path + ".tmp." + std::to_string(::getpid()) + ".";
  for (int n = 0; n < 64; ++n) fs::create_symlink(victim, base + std::to_string(n));
  const std::string dead_link = path + ".tmp." + std::to_string(dead_pid()) + ".0123456789abcdef";
  fs::create_symlink(victim, dead_link);

  save(path, "v2");
  save(path, "v3");
  CHECK(payload_of(path) == "v3");
  CHECK(text_of(victim) == "precious");
  CHECK(fs::is_symlink(base + "0"));
  CHECK(fs::is_symlink(dead_link));  // neither followed nor removed

  // A link planted where the lock file goes is refused, not followed, by the writer lock and by a save.
  fs::remove(path + ".lock");
  fs::create_symlink(victim, path + ".lock");
  CHECK(dstest::status_of([&] { save(path, "v4"); }) == Status::Io);
  CHECK(dstest::status_of([&] { WriterLock lock(path, std::chrono::milliseconds(0)); }) == Status::Io);
  CHECK(text_of(victim) == "precious");
}

TEST_CASE("temporary names are random, exclusive and removed when a save is abandoned", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  save(path, "v1");
  const std::regex pattern(".*/catalogue\\.dstest\\.tmp\\." + std::to_string(::getpid()) + "\\.[0-9a-f]{16}");
  {
    SectionWriter a(path, kTestKind), b(path, kTestKind);
    CHECK(a.temp_path() != b.temp_path());
    CHECK(std::regex_match(a.temp_path(), pattern));
    CHECK(std::regex_match(b.temp_path(), pattern));
    CHECK(detail::temporary_writer(fs::path(a.temp_path()).filename().string(), "catalogue.dstest") == ::getpid());
    CHECK(fs::is_regular_file(fs::symlink_status(a.temp_path())));
    CHECK(temporaries_in(dir.path()) == 2);
  }
  CHECK(entries(dir.path()) == std::set<std::string>{"catalogue.dstest", "catalogue.dstest.lock"});  // the lock file stays
  CHECK(payload_of(path) == "v1");
}

TEST_CASE("a saved file keeps its permissions and owner - a new one gets 0644 less the umask", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  save(path, "v1");
  CHECK(permissions_of(path) == (0644 & ~current_umask()));

  for (const mode_t mode : {mode_t{0600}, mode_t{0640}, mode_t{0444}}) {
    INFO("mode " << std::oct << mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    SectionWriter writer(path, kTestKind);
    CHECK((permissions_of(writer.temp_path()) & ~mode) == 0);  // never more readable, even while written
    writer.add_section(detail::tag("DATA"), "v2", 2);
    writer.commit();
    CHECK(permissions_of(path) == mode);
  }

  if (::geteuid() == 0) {  // a root writer keeps another user's file theirs
    const uid_t nobody = 65534;
    REQUIRE(::chown(path.c_str(), nobody, nobody) == 0);
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    save(path, "v3");
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(st.st_uid == nobody);
    CHECK(st.st_gid == nobody);
    CHECK((st.st_mode & 07777) == 0600);
  }
}

TEST_CASE("saving through a symbolic link updates the file it names and the link stays a link", "[file-safety]") {
  dstest::ScratchDir dir;
  fs::create_directory(dir.path() / "real");
  const std::string real = dir.file("real/catalogue.dstest");
  save(real, "v1");
  fs::create_symlink("real/catalogue.dstest", dir.path() / "link");  // relative to the link's directory
  fs::create_symlink(dir.path() / "link", dir.path() / "link-to-link");

  save(dir.file("link-to-link"), "v2");
  CHECK(payload_of(real) == "v2");
  CHECK(fs::is_symlink(dir.path() / "link"));
  CHECK(fs::is_symlink(dir.path() / "link-to-link"));
  CHECK(temporaries_in(dir.path()) == 0);
  CHECK(temporaries_in(dir.path() / "real") == 0);
  CHECK(WriterLock(dir.file("link-to-link"), std::chrono::milliseconds(0)).lock_path() == dir.file("real/catalogue.dstest.lock"));

  // A link to a file not yet written: the save creates the file it names.
  fs::create_symlink("real/new.dstest", dir.path() / "new-link");
  save(dir.file("new-link"), "new");
  CHECK(fs::is_symlink(dir.path() / "new-link"));
  CHECK(payload_of(dir.file("real/new.dstest")) == "new");

  fs::create_symlink("loop-b", dir.path() / "loop-a");
  fs::create_symlink("loop-a", dir.path() / "loop-b");
  CHECK(dstest::status_of([&] { save(dir.file("loop-a"), "x"); }) == Status::Io);
}

TEST_CASE("a save removes dead writers' temporaries and keeps live writers' and look-alikes", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest"), victim = dir.file("victim");
  write_text(victim, "precious");
  const std::string dead = std::to_string(dead_pid());
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t sleeper = ::fork();  // a live writer in the middle of its save
  REQUIRE(sleeper >= 0);
  if (sleeper == 0) {
    ::close(pipe_fds[1]);
    char byte;
    (void)::read(pipe_fds[0], &byte, 1);  // until the parent closes its end
    ::_exit(0);
  }
  ::close(pipe_fds[0]);

  const std::vector<std::string> removed = {"catalogue.dstest.tmp." + dead + ".0123456789abcdef",
                                            "catalogue.dstest.tmp." + dead + ".7"};  // an older build's name
  const std::vector<std::string> kept = {
      "catalogue.dstest.tmp." + std::to_string(::getppid()) + ".0123456789abcdef",
      "catalogue.dstest.tmp." + std::to_string(sleeper) + ".00000000000000aa",
      "catalogue.dstest.tmp." + dead + ".xyz",                // not hex
      "catalogue.dstest.tmp." + dead + ".0123456789abcdef0",  // 17 digits
      "catalogue.dstest.tmp." + dead,                         // no suffix
      "catalogue.dstest.tmp.0" + dead + ".1",                 // leading zero
      "other.dstest.tmp." + dead + ".1",                      // another file's
      "catalogue.dstest.tmp." + dead + ".1.bak"};
  for (const std::string& name : removed) write_text(dir.file(name), "stale");
  for (const std::string& name : kept) write_text(dir.file(name), "keep");
  const std::string dead_link = "catalogue.dstest.tmp." + dead + ".00000000000000bb";
  fs::create_symlink(victim, dir.path() / dead_link);

  save(path, "v1");
  const auto names = entries(dir.path());
  for (const std::string& name : removed) CHECK(names.count(name) == 0);
  for (const std::string& name : kept) CHECK(names.count(name) == 1);
  CHECK(fs::is_symlink(dir.path() / dead_link));
  CHECK(text_of(victim) == "precious");

  ::close(pipe_fds[1]);
  ::waitpid(sleeper, nullptr, 0);
}

TEST_CASE("two writer locks on one file exclude each other within a process", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  {
    const WriterLock first(path);
    CHECK(first.lock_path() == path + ".lock");
    const std::string message = conflict_message([&] { WriterLock second(path, std::chrono::milliseconds(50)); });
    CHECK(message.find(first.lock_path()) != std::string::npos);
    CHECK(message.find("pid " + std::to_string(::getpid())) != std::string::npos);
    CHECK(dstest::status_of([&] { WriterLock second(path, std::chrono::milliseconds(0)); }) == Status::Conflict);
  }
  const WriterLock again(path, std::chrono::milliseconds(0));  // released with the first
  CHECK(fs::exists(again.lock_path()));
}

TEST_CASE("the writer lock excludes other processes and is released when its holder exits", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  int ready[2];
  REQUIRE(::pipe(ready) == 0);

  pid_t holder = fork_lock_holder(path, ready, std::chrono::milliseconds(300));
  const std::string message = conflict_message([&] { WriterLock lock(path, std::chrono::milliseconds(100)); });
  CHECK(message.find(path + ".lock") != std::string::npos);
  CHECK(message.find("pid " + std::to_string(holder)) != std::string::npos);
  ::waitpid(holder, nullptr, 0);
  { const WriterLock lock(path, std::chrono::milliseconds(0)); }

  // Waiting without a timeout blocks until the holder lets go.
  holder = fork_lock_holder(path, ready, std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  { const WriterLock lock(path); }
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(100));
  ::waitpid(holder, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_CASE("every save increments the generation - files from before generations read as 0", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  CHECK(save(path, "v1") == 1);
  CHECK(SectionReader(path, kTestKind).generation() == 1);
  CHECK(save(path, "v2") == 2);
  CHECK(save(path, "v3") == 3);
  CHECK(SectionReader(path, kTestKind).generation() == 3);

  CHECK(SectionReader(std::string(DS_TEST_DATA_DIR) + "/format/v1/golden.dsidx", kIndexKind).generation() == 0);
  Index index(2);
  const float v[2] = {1, 2};
  index.add(1, index.add_category("c"), v);
  const std::string index_path = dir.file("index.dsidx");
  index.save(index_path);
  index.save(index_path);
  CHECK(SectionReader(index_path, kIndexKind).generation() == 2);

  // A file that is not of this kind is replaced and counted from 0.
  write_text(path, "not a container");
  CHECK(save(path, "v4") == 1);
}

TEST_CASE("a save expecting another generation fails with Conflict and leaves the file untouched", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  CHECK(save(path, "new", 0) == 1);  // 0: the caller creates the file
  CHECK(save(path, "v2", 1) == 2);
  const auto before = dstest::read_bytes(path);

  const std::string message = conflict_message([&] { save(path, "lost update", 1); });
  CHECK(message == path + " changed since it was opened (generation 2, expected 1): reopen it and apply the change again");
  CHECK(dstest::read_bytes(path) == before);
  CHECK(temporaries_in(dir.path()) == 0);
  CHECK(dstest::status_of([&] { save(path, "create over it", 0); }) == Status::Conflict);

  CHECK(save(path, "v3", 2) == 3);
  CHECK(payload_of(path) == "v3");

  write_text(path, "replaced by something else");
  CHECK(conflict_message([&] { save(path, "v4", 3); }).find("no longer a readable test file") != std::string::npos);
  CHECK(text_of(path) == "replaced by something else");

  // A file deleted since it was opened is written again, one generation on.
  fs::remove(path);
  CHECK(save(path, "v5", 3) == 4);
}

TEST_CASE("writers that follow the contract lose no update", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("counter.dstest");
  save(path, "0", 0);
  constexpr int kWriters = 4, kIncrements = 25;
  run_writer_processes(kWriters, [&] {
    for (int i = 0; i < kIncrements; ++i) {  // lock, open, change, save with the generation read
      const WriterLock lock(path);
      const SectionReader reader(path, kTestKind);
      const auto bytes = reader.read(detail::tag("DATA"), 64);
      save(path, std::to_string(std::stoi(std::string(bytes.begin(), bytes.end())) + 1), reader.generation());
    }
    return 0;
  });
  CHECK(payload_of(path) == std::to_string(kWriters * kIncrements));
  CHECK(SectionReader(path, kTestKind).generation() == 1 + kWriters * kIncrements);
}

TEST_CASE("writers without a writer lock that retry on Conflict lose no save", "[file-safety]") {
  // Each writer reads the file, saves its change expecting the version it read and, on Conflict,
  // reads again: the commit lock makes the check and the rename one step, so every save that
  // succeeded is in the file.
  dstest::ScratchDir dir;
  const std::string path = dir.file("counter.dstest");
  save(path, "0", 0);
  constexpr int kWriters = 4, kIncrements = 20;
  run_writer_processes(kWriters, [&] {
    for (int saved = 0; saved < kIncrements;) {
      try {
        const SectionReader reader(path, kTestKind);
        const auto bytes = reader.read(detail::tag("DATA"), 64);
        save(path, std::to_string(std::stoi(std::string(bytes.begin(), bytes.end())) + 1), reader.version());
        ++saved;
      } catch (const Error& e) {
        if (e.status() != Status::Conflict) return 2;
      }
    }
    return 0;
  });
  CHECK(payload_of(path) == std::to_string(kWriters * kIncrements));
  CHECK(SectionReader(path, kTestKind).generation() == 1 + kWriters * kIncrements);
}

TEST_CASE("a save never replaces a device node, FIFO, socket or directory, and a read never blocks on one", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string fifo = dir.file("fifo.dstest");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto refused = [](const std::function<void()>& f, const std::string& says) {
    try {
      f();
    } catch (const Error& e) {
      CHECK(e.status() == Status::Io);
      CHECK(std::string(e.what()).find(says) != std::string::npos);
      return;
    }
    FAIL("not refused");
  };
  refused([&] { save(fifo, "x"); }, "is a FIFO, not a regular file; refusing to replace it");
  CHECK(fs::is_fifo(fifo));
  refused([&] { SectionReader reader(fifo, kTestKind); }, "is a FIFO, not a regular file");  // returns at once: no writer needed
  refused([&] { Index::load(fifo); }, "is a FIFO");

  // A link to a device: the device stays (as root this was the system's /dev/null).
  const std::string link = dir.file("null.dsidx");
  fs::create_symlink("/dev/null", link);
  Index index(2);
  refused([&] { index.save(link); }, "(a link to /dev/null): is a character device");
  CHECK(fs::is_character_file("/dev/null"));
  CHECK(fs::is_symlink(link));
  refused([&] { Index::load("/dev/zero"); }, "is a character device");

  fs::create_directory(dir.file("folder.dstest"));
  refused([&] { save(dir.file("folder.dstest"), "x"); }, "is a directory");
  CHECK(temporaries_in(dir.path()) == 0);
}

TEST_CASE("a save expecting a version refuses another file of the same generation moved into place", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest"), other = dir.file("other.dstest");
  save(path, "mine");
  save(other, "someone else's");
  const detail::FileVersion opened = SectionReader(path, kTestKind).version();
  REQUIRE(SectionReader(other, kTestKind).generation() == opened.generation);
  fs::rename(other, path);
  const std::string message = conflict_message([&] { save(path, "lost", opened); });
  CHECK(message.find("another file of the same generation") != std::string::npos);
  CHECK(payload_of(path) == "someone else's");
}

TEST_CASE("Index::save checks the version of the file it was loaded from, by any name", "[file-safety]") {
  dstest::ScratchDir dir;
  fs::create_directory(dir.file("real"));
  fs::create_directory_symlink(dir.file("real"), dir.file("alias"));
  const std::string real = dir.file("real/index.dsidx"), alias = dir.file("alias/index.dsidx");
  Index index(2);
  const float v[2] = {1, 2};
  index.add(1, index.add_category("c"), v);
  index.save(real);

  Index first = Index::load(real), second = Index::load(alias);
  first.add(2, 0, v);
  first.save(real);
  second.add(3, 0, v);
  for (const std::string& name : {alias, real, dir.file("alias/../real/index.dsidx")}) {
    CHECK(conflict_message([&] { second.save(name); }).find("changed since it was opened") != std::string::npos);
  }
  CHECK(Index::load(real).contains(2));
  CHECK_FALSE(Index::load(real).contains(3));
  second.save(dir.file("elsewhere.dsidx"));  // another file: no version to check
  first.add(4, 0, v);
  first.save(alias);  // its own last save, by another name
  CHECK(Index::load(real).contains(4));
}

TEST_CASE("the lock file can be opened only by those who may write the catalogue", "[file-safety]") {
  dstest::ScratchDir dir;
  const mode_t mask = ::umask(022);
  for (const auto& [file_mode, lock_mode] : std::vector<std::pair<mode_t, mode_t>>{{0644, 0600}, {0664, 0660}, {0666, 0666}, {0444, 0600}}) {
    const std::string path = dir.file("catalogue" + std::to_string(file_mode) + ".dstest");
    save(path, "x");
    REQUIRE(::chmod(path.c_str(), file_mode) == 0);
    { const WriterLock lock(path, std::chrono::milliseconds(0)); }
    CHECK(permissions_of(path + ".lock") == lock_mode);
  }
  // A lock file that older builds created 0644 is tightened by its owner.
  const std::string path = dir.file("old.dstest");
  save(path, "x");
  write_text(path + ".lock", "");
  REQUIRE(::chmod((path + ".lock").c_str(), 0644) == 0);
  { const WriterLock lock(path, std::chrono::milliseconds(0)); }
  CHECK(permissions_of(path + ".lock") == 0600);
  ::umask(mask);
}

TEST_CASE("a wait for the writer lock can be given up", "[file-safety]") {
  dstest::ScratchDir dir;
  const std::string path = dir.file("catalogue.dstest");
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t holder = fork_lock_holder(path, ready, std::chrono::milliseconds(2000));
  int polls = 0;  // had the wait ignored the answer, it would have got the lock when the holder let go (no Cancelled)
  CHECK(dstest::status_of([&] { WriterLock lock(path, std::nullopt, [&] { return ++polls < 3; }); }) == Status::Cancelled);
  CHECK(polls == 3);
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_CASE("a link planted by another user in a sticky world-writable folder is not followed", "[file-safety]") {
  if (::geteuid() != 0) SUCCEED("needs root to plant a link as another user");
  else {
    dstest::ScratchDir dir;
    const std::string sticky = dir.file("shared");
    fs::create_directory(sticky);
    REQUIRE(::chmod(sticky.c_str(), 01777) == 0);
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    const std::string link = sticky + "/catalogue.dstest", target = dir.file("root-only.dstest");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // another user (nobody) plants a dangling link
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
      ::_exit(::symlink(target.c_str(), link.c_str()) == 0 ? 0 : 2);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    const Status refused = dstest::status_of([&] { save(link, "x"); });
    CHECK(refused == Status::Io);
    CHECK_FALSE(fs::exists(target));
    // root's own link there is followed as before
    fs::remove(link);
    fs::create_symlink(target, link);
    save(link, "x");
    CHECK(payload_of(target) == "x");
  }
}
