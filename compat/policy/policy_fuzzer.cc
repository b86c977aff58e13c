// libFuzzer entry point for the TracingPolicy parser: any input must give a
// policy list or INVALID_ARGUMENT, never a crash, within bounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "compat/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = tgd::policy::ParsePolicies(in);
  if (!parsed.ok() && parsed.status().code() != absl::StatusCode::kInvalidArgument) abort();
  if (parsed.ok()) {
    // The canonical form of a valid policy parses again, to a policy with
    // the same canonical form (nothing is lost or changed on the way).
    for (const auto& p : *parsed) {
      const std::string canonical = tgd::policy::ToCanonicalYaml(p);
      auto again = tgd::policy::ParsePolicy(canonical);
      if (!again.ok() || tgd::policy::ToCanonicalYaml(*again) != canonical) abort();
    }
  }
  return 0;
}
