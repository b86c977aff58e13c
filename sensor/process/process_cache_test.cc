// Process cache tests: exec ids, parent linkage, clone inheritance,
// reference counting of exited parents, bounded size under fork storms,
// the /proc reader, and records both the /proc walk and the ring saw.
#include "sensor/process/process_cache.h"

#include <time.h>
#include <unistd.h>

#include <map>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "api/events.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "sensor/export/json_encoder.h"
#include "sensor/process/proc_walk.h"

namespace tgd {
namespace {

ExecRecord Exec(uint32_t pid, uint32_t ppid, uint64_t ktime, const std::string& bin) {
  ExecRecord r;
  r.pid = pid;
  r.ppid = ppid;
  r.ktime = ktime;
  r.binary = bin;
  r.flags = "execve";
  return r;
}

TEST(ExecIdTest, TetragonScheme) {
  std::string id = MakeExecId("node1", 12345, 42);
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(id, &raw));
  EXPECT_EQ(raw, "node1:12345:42");
}

TEST(ProcessCacheTest, ExecLinksToParentAndSetsFields) {
  ProcessCache cache("n", 1000, 1'000'000'000'000);
  ExecRecord sh = Exec(10, 1, 500, "/bin/sh");
  sh.cap_effective = (1ull << 21) | 1;  // CAP_SYS_ADMIN, CAP_CHOWN
  sh.euid = 1000;
  tetragon::Process p_sh = cache.AddExec(sh);
  tetragon::Process p_ls = cache.AddExec(Exec(11, 10, 900, "/bin/ls"));
  EXPECT_EQ(p_ls.parent_exec_id(), p_sh.exec_id());
  EXPECT_EQ(p_sh.uid().value(), 1000u);
  ASSERT_EQ(p_sh.cap().effective_size(), 2);
  EXPECT_EQ(p_sh.cap().effective(0), tetragon::CAP_CHOWN);
  EXPECT_EQ(p_sh.cap().effective(1), tetragon::CAP_SYS_ADMIN);
  EXPECT_EQ(p_sh.start_time().seconds(), 1000);
  EXPECT_EQ(p_sh.start_time().nanos(), 500);
  auto parent = cache.GetParent(p_ls.exec_id());
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->binary(), "/bin/sh");
  EXPECT_EQ(cache.GetByTgid(11)->binary(), "/bin/ls");
}

TEST(ProcessCacheTest, CloneInheritsAndExecReplaces) {
  ProcessCache cache("n", 1000, 0, absl::ZeroDuration());
  tetragon::Process sh = cache.AddExec(Exec(10, 1, 100, "/bin/sh"));
  auto child = cache.AddClone(20, 10, 200);
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->binary(), "/bin/sh");
  EXPECT_EQ(child->flags(), "clone");
  EXPECT_EQ(child->parent_exec_id(), sh.exec_id());
  EXPECT_NE(child->exec_id(), sh.exec_id());
  tetragon::Process ls = cache.AddExec(Exec(20, 10, 300, "/bin/ls"));
  EXPECT_EQ(ls.parent_exec_id(), sh.exec_id());
  EXPECT_EQ(cache.GetByTgid(20)->exec_id(), ls.exec_id());
  EXPECT_FALSE(cache.GetByExecId(child->exec_id()).has_value());  // replaced, unreferenced
  EXPECT_FALSE(cache.AddClone(30, 999, 1).has_value());            // unknown parent
}

TEST(ProcessCacheTest, ExitedParentStaysWhileAChildNamesIt) {
  ProcessCache cache("n", 1000, 0, absl::ZeroDuration());
  tetragon::Process sh = cache.AddExec(Exec(10, 1, 100, "/bin/sh"));
  tetragon::Process sleep = cache.AddExec(Exec(11, 10, 200, "/bin/sleep"));
  ASSERT_TRUE(cache.Exit(10).has_value());
  EXPECT_FALSE(cache.GetByTgid(10).has_value());            // no longer running
  // Events decoded after the exit still find it for a short while.
  EXPECT_TRUE(cache.GetForEvent(10).has_value());
  EXPECT_FALSE(cache.GetForEvent(12345).has_value());
  EXPECT_TRUE(cache.GetParent(sleep.exec_id()).has_value());  // still there for the child
  ASSERT_TRUE(cache.Exit(11).has_value());
  EXPECT_FALSE(cache.GetByExecId(sleep.exec_id()).has_value());
  EXPECT_FALSE(cache.GetByExecId(sh.exec_id()).has_value());  // freed with its last child
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_FALSE(cache.Exit(11).has_value());
}

// Events decoded after both a process and its parent exited (another ring
// buffer, or held back) still find both, by the process's parent_exec_id,
// for exited_keep; then they are freed.
TEST(ProcessCacheTest, ExitedEntriesAreKeptForLateEvents) {
  ProcessCache cache("n", 1000, 0, absl::Milliseconds(50));
  tetragon::Process sh = cache.AddExec(Exec(10, 1, 100, "/bin/sh"));
  tetragon::Process cat = cache.AddExec(Exec(11, 10, 200, "/bin/cat"));
  ASSERT_TRUE(cache.Exit(11).has_value());
  ASSERT_TRUE(cache.Exit(10).has_value());
  ProcessCache::ForEvent f = cache.LookupForEvent(11, 250);
  ASSERT_NE(f.process, nullptr);
  EXPECT_EQ(f.process->exec_id(), cat.exec_id());
  ASSERT_NE(f.parent, nullptr);
  EXPECT_EQ(f.parent->exec_id(), sh.exec_id());
  EXPECT_EQ(cache.GetParent(cat.exec_id())->exec_id(), sh.exec_id());
  EXPECT_EQ(cache.stats().entries, 2u);
  // Past exited_keep, the next change frees them (the child first, then the
  // parent it released).
  absl::SleepFor(absl::Milliseconds(120));
  cache.AddExec(Exec(20, 1, 300, "/bin/true"));
  cache.Exit(20);
  absl::SleepFor(absl::Milliseconds(120));
  cache.AddExec(Exec(21, 1, 400, "/bin/true"));
  EXPECT_EQ(cache.LookupForEvent(11, 250).process, nullptr);
  EXPECT_FALSE(cache.GetByExecId(sh.exec_id()).has_value());
  EXPECT_EQ(cache.stats().entries, 1u);  // pid 21
}

// The process a pid was at the event's time: an exec (or a new process with
// the pid) decoded before an older event does not take the event.
TEST(ProcessCacheTest, LookupForEventPicksTheProcessOfTheEventsTime) {
  ProcessCache cache("n", 1000, 0);
  tetragon::Process sh = cache.AddExec(Exec(10, 1, 100, "/bin/sh"));
  ASSERT_TRUE(cache.AddCloneLazy(11, 10, 200));
  ProcessCache::ForEvent f = cache.LookupForEvent(11, 250);
  ASSERT_NE(f.process, nullptr);
  EXPECT_TRUE(f.exec_may_follow);  // a fork whose exec may still come
  tetragon::Process ls = cache.AddExec(Exec(11, 10, 300, "/bin/ls"));
  EXPECT_EQ(cache.LookupForEvent(11, 350).process->exec_id(), ls.exec_id());
  EXPECT_FALSE(cache.LookupForEvent(11, 350).exec_may_follow);
  f = cache.LookupForEvent(11, 250);  // before the exec: the fork
  ASSERT_NE(f.process, nullptr);
  EXPECT_EQ(f.process->flags(), "clone");
  EXPECT_EQ(f.parent->exec_id(), sh.exec_id());
  EXPECT_FALSE(f.exec_may_follow);
  EXPECT_EQ(cache.LookupForEvent(12345, 1).process, nullptr);
}

// in_init_tree as Tetragon's BPF sets it: a fork whose pid in its pid
// namespace is 1 (a container's first process) and everything it forks and
// execs; not the host, not what an exec into the container starts, not
// processes read from /proc.
TEST(ProcessCacheTest, InInitTreeFollowsTheContainersFirstProcess) {
  ProcessCache cache("n", 1000, 0);
  ExecRecord walked = Exec(50, 1, 10, "/usr/bin/containerd-shim");
  walked.observed_ns = 20;
  walked.nspid = 50;
  EXPECT_FALSE(cache.AddExec(walked).in_init_tree().value());
  ASSERT_TRUE(cache.AddCloneLazy(60, 50, 100, nullptr, /*nspid=*/1));  // runc's child in a new pid ns
  EXPECT_TRUE(cache.GetByTgid(60)->in_init_tree().value());
  ExecRecord entry = Exec(60, 50, 110, "/docker-entrypoint.sh");
  entry.nspid = 1;
  EXPECT_TRUE(cache.AddExec(entry).in_init_tree().value());
  ASSERT_TRUE(cache.AddCloneLazy(61, 60, 120, nullptr, /*nspid=*/2));
  ExecRecord sleep = Exec(61, 60, 130, "/bin/sleep");
  sleep.nspid = 2;
  EXPECT_TRUE(cache.AddExec(sleep).in_init_tree().value());  // inherited through the fork
  // `docker exec`: forked by the shim (host), nspid 7 in the container.
  ASSERT_TRUE(cache.AddCloneLazy(70, 50, 140, nullptr, /*nspid=*/7));
  ExecRecord ls = Exec(70, 50, 150, "/bin/ls");
  ls.nspid = 7;
  EXPECT_FALSE(cache.AddExec(ls).in_init_tree().value());
  ProcessCache::Shown shown = cache.AddExecEnriched(Exec(61, 60, 160, "/bin/true"), 0, nullptr);
  EXPECT_TRUE(shown.process->in_init_tree().value());
  ASSERT_NE(shown.parent, nullptr);
  EXPECT_TRUE(shown.parent->in_init_tree().value());  // the entrypoint
  EXPECT_TRUE(shown.process->has_in_init_tree());    // always set, as Tetragon does
}

// Tetragon's ancestors: from the parent's parent up to the first with pid
// <= 2; none for a process or parent with pid <= 2; incomplete when the
// chain reaches a process no longer cached.
TEST(ProcessCacheTest, AncestorsUpToPidTwo) {
  ProcessCache cache("n", 1000, 0, absl::ZeroDuration());
  tetragon::Process init = cache.AddExec(Exec(1, 0, 1, "/sbin/init"));
  tetragon::Process a = cache.AddExec(Exec(100, 1, 10, "/bin/a"));
  tetragon::Process b = cache.AddExec(Exec(200, 100, 20, "/bin/b"));
  tetragon::Process c = cache.AddExec(Exec(300, 200, 30, "/bin/c"));
  bool complete = false;
  std::vector<ProcessPtr> anc = cache.Ancestors(c, &b, &complete);
  EXPECT_TRUE(complete);
  ASSERT_EQ(anc.size(), 2u);
  EXPECT_EQ(anc[0]->exec_id(), a.exec_id());
  EXPECT_EQ(anc[1]->exec_id(), init.exec_id());
  EXPECT_TRUE(cache.Ancestors(b, &a, &complete).size() == 1 && complete);
  EXPECT_TRUE(cache.Ancestors(a, &init, &complete).empty() && complete);  // parent is pid 1
  tetragon::Process orphan = b;
  orphan.set_parent_exec_id("gone");
  EXPECT_TRUE(cache.Ancestors(c, &orphan, &complete).empty());
  EXPECT_FALSE(complete);
}

// Tetragon's pod.container.pid: the process's pid in its pid namespace, on
// exec, exit and policy-event processes of a pod container.
TEST(ProcessCacheTest, ContainerPidIsThePidInTheContainer) {
  ProcessCache cache("n", 1000, 0);
  cache.SetEnrichVersion([] { return uint64_t{1}; });  // the daemon's shared-pod path
  ProcessCache::Enricher enrich = [](uint64_t cgroup, tetragon::Process* p) {
    if (cgroup != 77) return;
    p->mutable_pod()->set_name("web-0");
    p->mutable_pod()->mutable_container()->set_name("nginx");
  };
  ExecRecord r = Exec(500, 1, 10, "/usr/sbin/nginx");
  r.nspid = 7;
  ProcessCache::Shown shown = cache.AddExecEnriched(r, 77, enrich);
  EXPECT_EQ(shown.process->pod().container().pid().value(), 7u);
  ExecRecord r2 = Exec(501, 1, 11, "/usr/sbin/nginx");
  r2.nspid = 8;
  EXPECT_EQ(cache.AddExecEnriched(r2, 77, enrich).process->pod().container().pid().value(), 8u);
  ExecRecord host = Exec(502, 1, 12, "/bin/sh");
  host.nspid = 502;
  EXPECT_FALSE(cache.AddExecEnriched(host, 5, enrich).process->has_pod());
  ProcessCache::ForEvent f = cache.LookupForEvent(500, 20);
  EXPECT_EQ(f.nspid, 7u);
  tetragon::Process copy = *f.process;
  enrich(77, &copy);
  ProcessCache::SetContainerPid(f.nspid, &copy);
  EXPECT_EQ(copy.pod().container().pid().value(), 7u);
  auto exited = cache.ExitEnriched(500, 77, enrich, 30);
  ASSERT_TRUE(exited.has_value());
  EXPECT_EQ(exited->process->pod().container().pid().value(), 7u);
  // Unknown (0): no pid, as Tetragon.
  EXPECT_FALSE(cache.AddExecEnriched(Exec(503, 1, 13, "/bin/x"), 77, enrich).process->pod().container().has_pid());
}

TEST(ProcessCacheTest, ForkStormStaysBounded) {
  ProcessCache cache("n", 256, 0);
  cache.AddExec(Exec(1, 0, 1, "/sbin/init"));
  // A long-lived parent whose children exit immediately: nothing piles up.
  tetragon::Process parent = cache.AddExec(Exec(100, 1, 2, "/usr/bin/make"));
  for (uint32_t i = 0; i < 100000; ++i) {
    uint32_t pid = 1000 + (i % 30000);
    cache.AddClone(pid, 100, 10 + i);
    cache.AddExec(Exec(pid, 100, 10 + i, "/bin/cc"));
    cache.Exit(pid);
  }
  EXPECT_LE(cache.stats().entries, 256u);
  // Deep chains of exited parents kept alive by running children are capped
  // by eviction, counted.
  uint32_t prev = 100;
  for (uint32_t i = 0; i < 2000; ++i) {
    uint32_t pid = 50000 + i;
    cache.AddExec(Exec(pid, prev, 200000 + i, "/bin/sh"));
    if (i > 0) cache.Exit(prev);
    prev = pid;
  }
  EXPECT_LE(cache.stats().entries, 256u);
  EXPECT_GT(cache.stats().evicted, 0u);
  EXPECT_TRUE(cache.GetByExecId(parent.exec_id()).has_value());  // running: never evicted
}

// A pod enricher as the daemon's: sets `pod` by cgroup from a table it owns.
struct FakePods {
  std::map<uint64_t, std::string> pods;
  void operator()(uint64_t cgroup, tetragon::Process* p) const {
    auto it = pods.find(cgroup);
    if (it == pods.end()) return;
    p->mutable_pod()->set_name(it->second);
    (*p->mutable_pod()->mutable_pod_labels())["app"] = it->second;
    (*p->mutable_pod()->mutable_pod_labels())["tier"] = "web";
  }
};

TEST(ProcessCacheTest, EnrichedExecMatchesEnrichingACopy) {
  FakePods pods;
  pods.pods[7] = "web-1";
  ProcessCache::Enricher enrich = [&pods](uint64_t c, tetragon::Process* p) { pods(c, p); };
  ProcessCache cache("n", 1000, 0);
  cache.AddExec(Exec(10, 1, 100, "/bin/sh"));
  ExecRecord rec = Exec(11, 10, 200, "/bin/ls");
  rec.ns.assign(10, 4026531835u);
  rec.cap_effective = 5;
  ProcessCache::Shown shown = cache.AddExecEnriched(rec, 7, enrich);
  ASSERT_NE(shown.process, nullptr);
  ASSERT_NE(shown.parent, nullptr);
  EXPECT_EQ(shown.parent->binary(), "/bin/sh");
  EXPECT_FALSE(shown.parent->has_pod());
  EXPECT_EQ(shown.process->pod().name(), "web-1");
  // The plain process, made from the enriched one on demand, is what
  // AddExec builds; enriching a copy of it gives the event's process.
  ProcessPtr plain = cache.GetSharedByTgid(11);
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->has_pod());
  ProcessCache other("n", 1000, 0);
  other.AddExec(Exec(10, 1, 100, "/bin/sh"));
  tetragon::Process expected = other.AddExec(rec);
  EXPECT_EQ(plain->SerializeAsString(), expected.SerializeAsString());
  enrich(7, &expected);
  EXPECT_EQ(google::protobuf::util::MessageDifferencer::Equals(*shown.process, expected), true);

  // Memo: the same enrichment reuses the message; a changed one does not.
  auto again = cache.GetEnrichedByTgid(11, 7, enrich);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->process, shown.process);
  pods.pods[7] = "web-2";
  auto exited = cache.ExitEnriched(11, 7, enrich);
  ASSERT_TRUE(exited.has_value());
  EXPECT_NE(exited->process, shown.process);
  EXPECT_EQ(exited->process->pod().name(), "web-2");
  EXPECT_EQ(exited->process->exec_id(), shown.process->exec_id());
  EXPECT_FALSE(cache.GetByTgid(11).has_value());
  // No pod for the cgroup: the plain process itself.
  ProcessCache::Shown host = cache.AddExecEnriched(Exec(12, 10, 300, "/bin/true"), 99, enrich);
  EXPECT_FALSE(host.process->has_pod());
  EXPECT_EQ(cache.GetSharedByTgid(12), host.process);
  EXPECT_TRUE(cache.IsClone(12) == false);
  cache.AddClone(13, 10, 400);
  EXPECT_TRUE(cache.IsClone(13));
}

TEST(ProcessCacheTest, EnrichVersionCallsTheEnricherOnlyWhenItChanges) {
  FakePods pods;
  pods.pods[7] = "web-1";
  int calls = 0;
  ProcessCache::Enricher enrich = [&](uint64_t c, tetragon::Process* p) {
    ++calls;
    pods(c, p);
  };
  uint64_t version = 1;
  ProcessCache cache("n", 1000, 0);
  cache.SetEnrichVersion([&version] { return version; });
  ProcessCache::Shown a = cache.AddExecEnriched(Exec(10, 1, 100, "/bin/sh"), 7, enrich);
  ProcessCache::Shown b = cache.AddExecEnriched(Exec(11, 1, 200, "/bin/ls"), 7, enrich);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(b.process->pod().name(), "web-1");
  pods.pods[7] = "web-2";  // the registry changes, and says so
  ++version;
  auto exited = cache.ExitEnriched(10, 7, enrich);
  ASSERT_TRUE(exited.has_value());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(exited->process->pod().name(), "web-2");
  EXPECT_EQ(a.process->pod().name(), "web-1");  // published messages never change
}

TEST(ProcessCacheTest, ProcessesShareEqualSubMessagesAndPod) {
  FakePods pods;
  pods.pods[7] = "web-1";
  ProcessCache::Enricher enrich = [&pods](uint64_t c, tetragon::Process* p) { pods(c, p); };
  ProcessCache cache("n", 1000, 0);
  cache.SetEnrichVersion([] { return uint64_t{1}; });
  ProcessCache other("n", 1000, 0);  // the reference: AddExec + enriching a copy
  auto rec = [](uint32_t pid, uint64_t ktime, uint64_t caps) {
    ExecRecord r = Exec(pid, 1, ktime, "/bin/sh");
    r.ns.assign(10, 4026531835u);
    r.cap_effective = caps;
    r.uid = r.euid = 1000;
    return r;
  };
  ProcessCache::Shown a = cache.AddExecEnriched(rec(10, 100, 5), 7, enrich);
  ProcessCache::Shown b = cache.AddExecEnriched(rec(11, 200, 5), 7, enrich);
  ProcessCache::Shown c = cache.AddExecEnriched(rec(12, 300, 6), 7, enrich);
  // Equal values: one object; different ones: not.
  EXPECT_EQ(&a.process->pod(), &b.process->pod());
  EXPECT_EQ(&a.process->cap(), &b.process->cap());
  EXPECT_EQ(&a.process->ns(), &b.process->ns());
  EXPECT_EQ(&a.process->process_credentials(), &b.process->process_credentials());
  EXPECT_NE(&a.process->cap(), &c.process->cap());
  EXPECT_EQ(&a.process->ns(), &c.process->ns());
  // Contents as before, and the same JSON as the reflection encoder (the
  // shared objects are spliced from the second use on).
  for (const auto& [shown, r] : {std::pair{&a, rec(10, 100, 5)}, std::pair{&b, rec(11, 200, 5)},
                                 std::pair{&c, rec(12, 300, 6)}}) {
    tetragon::Process expected = other.AddExec(r);
    enrich(7, &expected);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*shown->process, expected));
    for (int round = 0; round < 2; ++round) {
      tetragon::GetEventsResponse ev, want;
      ev.mutable_process_exec()->unsafe_arena_set_allocated_process(
          const_cast<tetragon::Process*>(shown->process.get()));  // released below
      *want.mutable_process_exec()->mutable_process() = expected;
      std::string fast, reflected;
      ASSERT_TRUE(AppendMessageJson(ev, &fast).ok());
      ASSERT_TRUE(AppendMessageJsonReflection(want, &reflected).ok());
      EXPECT_EQ(fast, reflected);
      ev.mutable_process_exec()->unsafe_arena_release_process();
    }
  }
  // The plain process (made on demand) has its own copies and no pod.
  ProcessPtr plain = cache.GetSharedByTgid(11);
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->has_pod());
  EXPECT_EQ(plain->cap().SerializeAsString(), a.process->cap().SerializeAsString());
}

TEST(ProcessCacheTest, FlagCloneMarksTheExecOfAFork) {
  ProcessCache cache("n", 1000, 0);
  cache.AddExec(Exec(10, 1, 100, "/bin/sh"));
  ASSERT_TRUE(cache.AddClone(11, 10, 200).has_value());
  ExecRecord r = Exec(11, 10, 300, "/bin/ls");
  r.flags = "execve truncArgs";
  EXPECT_EQ(cache.AddExecEnriched(r, 0, nullptr, /*flag_clone=*/true).process->flags(), "execve clone truncArgs");
  // Exec'd already: not a fork any more.
  r.ktime = 400;
  EXPECT_EQ(cache.AddExecEnriched(r, 0, nullptr, /*flag_clone=*/true).process->flags(), "execve truncArgs");
  ASSERT_TRUE(cache.AddClone(12, 10, 500).has_value());
  ExecRecord plain = Exec(12, 10, 600, "/bin/ls");
  EXPECT_EQ(cache.AddExecEnriched(plain, 0, nullptr).process->flags(), "execve");  // not asked
  ASSERT_TRUE(cache.AddClone(13, 10, 700).has_value());
  ExecRecord one = Exec(13, 10, 800, "/bin/ls");
  EXPECT_EQ(cache.AddExecEnriched(one, 0, nullptr, /*flag_clone=*/true).process->flags(), "execve clone");
}

TEST(ProcWalkTest, JoinArguments) {
  const char argv[] = "/bin/sh\0-c\0echo hi\0";
  EXPECT_EQ(JoinArguments(argv, sizeof(argv) - 1), "-c echo hi");
  EXPECT_EQ(JoinArguments("ls\0", 3), "");
  EXPECT_EQ(JoinArguments("", 0), "");
  EXPECT_EQ(JoinArguments("a\0\0b\0\0", 6), " b");
  EXPECT_EQ(JoinArguments("\0b", 2), "b");
  EXPECT_EQ(JoinArguments("a", 1), "");
}

// A /proc read of `pid` at `observed`, of a process that started at `ktime`.
ExecRecord Walked(uint32_t pid, uint32_t ppid, uint64_t ktime, uint64_t observed,
                  const std::string& bin) {
  ExecRecord r = Exec(pid, ppid, ktime, bin);
  r.flags = "procFS";
  r.observed_ns = observed;
  return r;
}

// The sensor attaches, then walks /proc, then decodes what queued in the
// ring: an exec both saw is one process, under the walk's exec id.
TEST(WalkAndRingTest, AnExecSeenByBothIsOneProcess) {
  ProcessCache cache("n", 1000, 0, absl::ZeroDuration());
  cache.AddExec(Walked(1, 0, 10, 5000, "/sbin/init"));
  tetragon::Process walked = cache.AddExec(Walked(100, 1, 1000, 5001, "/bin/app"));
  tetragon::Process child = cache.AddExec(Walked(101, 100, 2000, 5002, "/bin/worker"));
  EXPECT_EQ(child.parent_exec_id(), walked.exec_id());
  ASSERT_EQ(cache.stats().entries, 3u);

  // The exec of 100 at 3000 (after its start, before the walk read it).
  ExecRecord rec = Exec(100, 1, 3000, "/bin/app");
  rec.arguments = "--serve";
  ProcessCache::Shown shown = cache.AddExecEnriched(rec, 0, nullptr, /*flag_clone=*/true);
  EXPECT_EQ(shown.process->exec_id(), walked.exec_id());
  EXPECT_EQ(shown.process->flags(), "execve");  // the ring's record wins
  EXPECT_EQ(shown.process->arguments(), "--serve");
  EXPECT_EQ(cache.stats().entries, 3u);          // no second entry for it
  EXPECT_EQ(cache.GetByTgid(100)->arguments(), "--serve");
  EXPECT_EQ(cache.GetParent(child.exec_id())->arguments(), "--serve");

  // References moved with it: exits free everything.
  ASSERT_TRUE(cache.ExitEnriched(100, 0, nullptr, 6000).has_value());
  EXPECT_TRUE(cache.GetParent(child.exec_id()).has_value());  // kept for its child
  ASSERT_TRUE(cache.ExitEnriched(101, 0, nullptr, 6001).has_value());
  ASSERT_TRUE(cache.ExitEnriched(1, 0, nullptr, 6002).has_value());
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(WalkAndRingTest, AnExecAfterTheReadIsANewImage) {
  ProcessCache cache("n", 1000, 0);
  tetragon::Process sh = cache.AddExec(Walked(100, 1, 1000, 5000, "/bin/sh"));
  tetragon::Process child = cache.AddExec(Walked(101, 100, 2000, 5001, "/bin/sleep"));
  ProcessCache::Shown shown = cache.AddExecEnriched(Exec(100, 1, 5500, "/bin/ls"), 0, nullptr);
  EXPECT_NE(shown.process->exec_id(), sh.exec_id());
  EXPECT_EQ(cache.GetByTgid(100)->binary(), "/bin/ls");
  EXPECT_EQ(cache.GetParent(child.exec_id())->binary(), "/bin/sh");  // the image that forked it
}

TEST(WalkAndRingTest, AForkSeenByBothKeepsTheWalksExecId) {
  ProcessCache cache("n", 1000, 0);
  cache.AddExec(Walked(100, 1, 1000, 5000, "/bin/sh"));
  tetragon::Process walked = cache.AddExec(Walked(102, 100, 2500, 5002, "/bin/sh"));
  ASSERT_TRUE(cache.AddCloneLazy(102, 100, 2600));
  EXPECT_EQ(cache.GetByTgid(102)->exec_id(), walked.exec_id());
  EXPECT_EQ(cache.GetByTgid(102)->flags(), "clone");
  EXPECT_EQ(cache.stats().entries, 2u);
}

TEST(WalkAndRingTest, AnOlderProcesssExitDoesNotEndTheWalkedOne) {
  ProcessCache cache("n", 1000, 0);
  tetragon::Process walked = cache.AddExec(Walked(100, 1, 1000, 5000, "/bin/new"));
  // pid 100 was an older process that exited at 900, before this one started.
  EXPECT_FALSE(cache.ExitEnriched(100, 0, nullptr, 900).has_value());
  EXPECT_EQ(cache.GetByTgid(100)->exec_id(), walked.exec_id());
  // Its own exit (after its start) ends it, also one the walk raced with.
  EXPECT_TRUE(cache.ExitEnriched(100, 0, nullptr, 4000).has_value());
  EXPECT_FALSE(cache.GetByTgid(100).has_value());
}

TEST(ProcWalkTest, ReadsThisProcess) {
  auto me = ReadProcProcess("/proc", getpid());
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(me->ppid, static_cast<uint32_t>(getppid()));
  EXPECT_EQ(me->euid, geteuid());
  EXPECT_NE(me->binary.find("process_cache_test"), std::string::npos) << me->binary;
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(me->cwd, cwd);
  EXPECT_EQ(me->flags, "procFS");
  EXPECT_EQ(me->ns.size(), 10u);
  EXPECT_NE(me->ns[0], 0u);
  // On the ring's clock: started before now, read just now.
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const uint64_t now = static_cast<uint64_t>(mono.tv_sec) * 1000000000ull + mono.tv_nsec;
  EXPECT_LE(me->ktime, now);
  EXPECT_GT(me->observed_ns, me->ktime);
  EXPECT_LE(me->observed_ns, now);
  auto all = ReadProcProcesses();
  ASSERT_FALSE(all.empty());
  // Parents first; otherwise by start time, to within one /proc clock tick
  // (a parent forked in the child's tick may be moved before it).
  const uint64_t tick_ns = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  std::map<uint32_t, size_t> pos;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) {
      EXPECT_LE(all[i - 1].ktime, all[i].ktime + tick_ns) << all[i - 1].pid << " before " << all[i].pid;
    }
    if (pos.find(all[i].ppid) == pos.end()) {
      for (size_t j = i + 1; j < all.size(); ++j) {
        EXPECT_NE(all[j].pid, all[i].ppid) << "parent after child " << all[i].pid;
      }
    }
    pos[all[i].pid] = i;
  }
}

}  // namespace
}  // namespace tgd
