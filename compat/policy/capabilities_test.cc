// The capability table against Tetragon's CapabilitiesType enum (our
// api/capabilities.proto keeps upstream's names), and how policy values
// are read: upper-cased, DAC_OVERRIDE as upstream, CAP_DAC_OVERRIDE as an
// alias.
#include "compat/policy/capabilities.h"

#include <string>

#include "api/capabilities.pb.h"
#include "compat/policy/policy.h"
#include "gtest/gtest.h"

namespace tgd::policy {
namespace {

TEST(CapabilitiesTest, TableIsTheProtoEnum) {
  EXPECT_EQ(tetragon::CapabilitiesType_MAX, kLastCapability);
  for (int bit = 0; bit <= kLastCapability; ++bit) {
    SCOPED_TRACE(bit);
    ASSERT_TRUE(tetragon::CapabilitiesType_IsValid(bit));
    const std::string name = tetragon::CapabilitiesType_Name(static_cast<tetragon::CapabilitiesType>(bit));
    EXPECT_EQ(name, CapabilityEnumName(bit));
    EXPECT_EQ(CapabilityBit(name), bit);
  }
  EXPECT_EQ(CapabilityEnumName(-1), nullptr);
  EXPECT_EQ(CapabilityEnumName(kLastCapability + 1), nullptr);
}

TEST(CapabilitiesTest, NamesAsTetragonReadsThem) {
  EXPECT_EQ(CapabilityBit("DAC_OVERRIDE"), 1);      // upstream's enum name
  EXPECT_EQ(CapabilityBit("dac_override"), 1);      // upper-cased first, as upstream
  EXPECT_EQ(CapabilityBit("CAP_DAC_OVERRIDE"), 1);  // the kernel's name: our alias
  EXPECT_EQ(CapabilityBit("cap_dac_override"), 1);
  EXPECT_EQ(CapabilityBit("cap_sys_admin"), 21);
  EXPECT_EQ(CapabilityBit("CAP_CHECKPOINT_RESTORE"), 40);
  EXPECT_FALSE(CapabilityBit("CHOWN").has_value());  // only bit 1 lacks the prefix upstream
  EXPECT_FALSE(CapabilityBit("CAP_NOPE").has_value());
  EXPECT_FALSE(CapabilityBit("").has_value());
}

std::string CapsPolicy(const std::string& values) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
         "  kprobes:\n  - call: sys_setuid\n    selectors:\n    - matchCapabilities:\n"
         "      - operator: In\n        values: [" + values + "]\n";
}

TEST(CapabilitiesTest, MatchCapabilitiesStoresTheEnumName) {
  auto p = ParsePolicy(CapsPolicy("DAC_OVERRIDE, cap_dac_override, Dac_Override, cap_net_raw"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->hooks[0].selectors[0].match_capabilities[0].values,
            (std::vector<std::string>{"DAC_OVERRIDE", "DAC_OVERRIDE", "DAC_OVERRIDE", "CAP_NET_RAW"}));
  // The canonical form uses the enum names, so Tetragon accepts it too.
  EXPECT_NE(ToCanonicalYaml(*p).find("\"DAC_OVERRIDE\""), std::string::npos);
  EXPECT_EQ(ToCanonicalYaml(*p).find("CAP_DAC_OVERRIDE"), std::string::npos);

  auto bad = ParsePolicy(CapsPolicy("CAP_DAC_OVERRIDE, CAP_NOPE"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()),
            "line 11 col 36: spec.kprobes[0].selectors[0].matchCapabilities[0].values[1]: \"CAP_NOPE\" is not a "
            "capability (e.g. CAP_SYS_ADMIN)");
}

TEST(CapabilitiesTest, CapabilityMasksAcceptBothSpellings) {
  auto mask = [](const std::string& value) {
    return ParsePolicy(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
        "  kprobes:\n  - call: cap_capable\n    syscall: false\n    args:\n    - index: 0\n      type: kernel_cap_t\n"
        "    selectors:\n    - matchArgs:\n      - index: 0\n        operator: Mask\n        values: [\"" +
        value + "\"]\n");
  };
  EXPECT_TRUE(mask("DAC_OVERRIDE,CAP_CHOWN").ok());
  EXPECT_TRUE(mask("cap_dac_override").ok());
  EXPECT_FALSE(mask("CAP_DAC_OVERRIDE,NOPE").ok());
}

}  // namespace
}  // namespace tgd::policy
