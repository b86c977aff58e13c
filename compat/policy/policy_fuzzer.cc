// libFuzzer entry point for the TracingPolicy parser: any input must give a
// policy list or INVALID_ARGUMENT, never a crash, within bounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "compat/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = tgd::policy::ParsePolicies(in);
  if (!parsed.ok() && parsed.status().code() != absl::StatusCode::kInvalidArgument) abort();
  if (parsed.ok()) {
    // The canonical form of a valid policy must parse again.
    for (const auto& p : *parsed) {
      if (!tgd::policy::ParsePolicy(tgd::policy::ToCanonicalYaml(p)).ok()) abort();
    }
  }
  return 0;
}
