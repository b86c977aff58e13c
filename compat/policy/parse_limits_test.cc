// Hostile inputs: each shape of a 1 MiB YAML (nested flow and block
// collections, anchors and aliases, an alias bomb, long keys and values) is
// refused or parsed with bounded memory, and its error quotes a bounded part
// of the input. Memory is measured, not timed: this binary replaces the
// global operator new/delete and records the peak of live heap bytes, which
// is deterministic for a given input (yaml-cpp allocates through them).
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "compat/policy/policy.h"
#include "gtest/gtest.h"

namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

// Each block carries its size in a 16-byte header.
void* Allocate(size_t n) {
  void* p = std::malloc(n + 16);
  if (p == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(p) = n;
  int64_t live = g_live.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
  return static_cast<char*>(p) + 16;
}

void Free(void* p) {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - 16;
  g_live.fetch_sub(static_cast<int64_t>(*reinterpret_cast<size_t*>(base)));
  std::free(base);
}

}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return Allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return Allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }

namespace tgd::policy {
namespace {

constexpr size_t kMiB = 1 << 20;
// The most one parse of a 1 MiB input may hold on the heap at once.
constexpr int64_t kPeakLimit = 32 * kMiB;

struct Measured {
  absl::Status status;
  int64_t peak_bytes;
};

Measured Parse(const std::string& yaml) {
  int64_t before = g_live.load();
  g_peak.store(before);
  absl::StatusOr<TracingPolicy> p = ParsePolicy(yaml);
  Measured m{p.status(), g_peak.load() - before};
  return m;
}

// `unit` repeated up to (nearly) 1 MiB.
std::string Fill(const std::string& head, const std::string& unit, const std::string& tail = "") {
  std::string s = head;
  while (s.size() + unit.size() + tail.size() < kMiB) s += unit;
  return s + tail;
}

void ExpectRefused(const std::string& name, const std::string& yaml, const std::string& why) {
  ASSERT_LE(yaml.size(), kMaxPolicyBytes) << name;
  Measured m = Parse(yaml);
  EXPECT_EQ(m.status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << m.status;
  EXPECT_NE(m.status.message().find(why), std::string::npos) << name << ": " << m.status;
  EXPECT_LT(m.status.message().size(), 2048u) << name << ": the error quotes too much of the input";
  EXPECT_LT(m.peak_bytes, kPeakLimit) << name << ": peak heap " << m.peak_bytes << " bytes";
  std::cout << name << ": peak heap " << m.peak_bytes / 1024 << " KiB, " << m.status.message().substr(0, 160)
            << "\n";
}

TEST(ParseLimitsTest, HostileShapesAreRefusedWithBoundedMemory) {
  ExpectRefused("nested [", Fill("", "["), "more than 64 nested");
  ExpectRefused("nested {", Fill("", "{"), "more than 64 nested");
  ExpectRefused("nested {a: ", Fill("", "{a: "), "more than 64 nested");
  ExpectRefused("block - - -", Fill("", "- "), "more than 64 nested");
  // Block mappings nested by indentation.
  std::string block_map;
  for (int i = 0; block_map.size() < kMiB - 2000; ++i) block_map += std::string(i, ' ') + "k:\n";
  ExpectRefused("block mappings", block_map, "more than 64 nested");
  // Brackets in a quoted scalar are not nesting: this parses as YAML (and is
  // refused by the policy reader for what it is).
  ExpectRefused("quoted brackets", absl::StrCat("a: \"", std::string(100000, '['), "\"\n"), "unknown field");
    // Many small flow sequences side by side: shallow, but many nodes.
  ExpectRefused("wide [[]]", Fill("a: [", "[],", "]"), "more than 50000 nodes");
  ExpectRefused("many scalars", Fill("a: [", "1,", "1]"), "more than 50000 nodes");
  // Many anchors and aliases.
  ExpectRefused("anchors", Fill("a: [", "&x 1, ", "1]"), "more than 50000 nodes");
  ExpectRefused("aliases", Fill("a: [&x 1, ", "*x, ", "1]"), "more than 50000 nodes");
  // The billion laughs: each level aliases the one before ten times.
  std::string bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string cur(1, c);
    bomb += absl::StrCat(cur, ": &", cur, " [");
    for (int i = 0; i < 9; ++i) bomb += absl::StrCat(i ? "," : "", "*", prev);
    bomb += "]\n";
    prev = cur;
  }
  ExpectRefused("billion laughs", bomb, "more than 200000 nodes (aliases counted");
  // A long value aliased many times: few nodes, many bytes once expanded.
  std::string big_value = absl::StrCat("a: &v ", std::string(512 * 1024, 'x'), "\nb: [");
  for (int i = 0; i < 10; ++i) big_value += "*v, ";
  ExpectRefused("aliased long value", big_value + "*v]\n", "bytes of values");
  // A long key: not a key for YAML (over 1024 characters).
  ExpectRefused("long key", Fill("", "k", ": 1\n"), "yaml");
  // A long name: quoted in the error only in part.
  ExpectRefused("long name",
                absl::StrCat("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ",
                             std::string(kMiB - 100, 'n'), "\nspec: {}\n"),
                "bytes omitted");
}

// What the limits leave alone: a large but ordinary policy still parses.
TEST(ParseLimitsTest, LargeOrdinaryPolicyStillParses) {
  std::string yaml = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: many-paths
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values:
)";
  for (int i = 0; i < 5000; ++i) yaml += absl::StrCat("        - /some/long/path/number/", i, "\n");
  Measured m = Parse(yaml);
  EXPECT_TRUE(m.status.ok()) << m.status;
  EXPECT_LT(m.peak_bytes, kPeakLimit);
}

}  // namespace
}  // namespace tgd::policy
