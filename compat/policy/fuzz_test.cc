// Runs the parser's fuzz entry point (policy_fuzzer.cc) over seeded random
// mutations of every example policy: byte flips, YAML-significant
// insertions, line duplication and deletion, truncation and splicing. The
// entry point aborts on anything but OK or INVALID_ARGUMENT, or when a valid
// policy's canonical form does not parse again. Fixed seed: reproducible.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compat/policy/policy.h"
#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tgd::policy {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Corpus() {
  std::vector<std::string> out;
  for (const char* dir : {"testdata/policies/valid", "testdata/policies/invalid"}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".yaml") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Feed(const std::string& s) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string Mutate(std::mt19937_64& rng, const std::vector<std::string>& corpus, std::string s) {
  static const char* kTokens[] = {":", "- ", "[", "]", "{", "}", "&a ", "*a", "!!str ", "\"", "'", "#", "\n",
                                  "  ", "---\n", "~", "null", "-1", "0x", "4294967296", "\t", "|", ">", "? ",
                                  "index: 9", "operator: InMap", "action: Override", "values: [*a, *a]"};
  int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds && !s.empty(); ++r) {
    size_t pos = rng() % s.size();
    switch (rng() % 7) {
      case 0: s[pos] = static_cast<char>(rng() % 256); break;
      case 1: s.insert(pos, kTokens[rng() % (sizeof(kTokens) / sizeof(kTokens[0]))]); break;
      case 2: s.erase(pos, 1 + rng() % 16); break;
      case 3: s.resize(pos); break;
      case 4: {  // duplicate a line
        size_t b = s.rfind('\n', pos);
        b = b == std::string::npos ? 0 : b + 1;
        size_t e = s.find('\n', pos);
        if (e == std::string::npos) e = s.size();
        s.insert(b, s.substr(b, e - b) + "\n");
        break;
      }
      case 5: {  // splice another file's tail
        const std::string& o = corpus[rng() % corpus.size()];
        if (!o.empty()) s = s.substr(0, pos) + o.substr(rng() % o.size());
        break;
      }
      case 6: {  // re-indent a line
        size_t b = s.rfind('\n', pos);
        s.insert(b == std::string::npos ? 0 : b + 1, rng() % 2 ? "  " : " ");
        break;
      }
    }
  }
  return s;
}

TEST(PolicyFuzzTest, SeededMutationsNeverCrash) {
  std::vector<std::string> corpus = Corpus();
  ASSERT_GT(corpus.size(), 40u);
  for (const std::string& s : corpus) Feed(s);
  std::mt19937_64 rng(20261123);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int n = 0;
  for (; n < 30000 && std::chrono::steady_clock::now() < deadline; ++n) {
    Feed(Mutate(rng, corpus, corpus[rng() % corpus.size()]));
  }
  EXPECT_GT(n, 1000);
}

TEST(PolicyFuzzTest, HostileShapes) {
  Feed(std::string(200000, '['));
  Feed(std::string(200000, '{'));
  Feed(std::string(100000, '-') + " x");
  std::string nested;
  for (int i = 0; i < 5000; ++i) nested += std::string(static_cast<size_t>(i % 50), ' ') + "- \n";
  Feed(nested);
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
    laughs += "]\n";
  }
  Feed(laughs);
  Feed("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: x}\nspec: {kprobes: *nope}\n");
  Feed(std::string(kMaxPolicyBytes + 1, 'a'));
}

// Inputs libFuzzer found (yaml-cpp 0.7 loops forever on them unguarded).
TEST(PolicyFuzzTest, Regressions) {
  for (const char* in : {",", ",ap", "a\n---\n,", "a: b\n---\n, x", "# comment\n,ap"}) {
    auto p = ParsePolicies(in);
    ASSERT_FALSE(p.ok()) << in;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(std::string(ParsePolicies(",").status().message()),
            "yaml: malformed stream (a document starts with a stray ',')");
  // Invalid UTF-8 would not survive the canonical form's round trip.
  EXPECT_EQ(std::string(ParsePolicies("a: \"\xff\"\n").status().message()),
            "yaml: not valid UTF-8 at byte offset 4");
}

}  // namespace
}  // namespace tgd::policy
