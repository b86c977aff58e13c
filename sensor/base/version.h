// The one place tgdispatch's version string lives (GetVersion, GetInfo,
// `tgdispatch version`, logs).
#ifndef TGDISPATCH_SENSOR_BASE_VERSION_H_
#define TGDISPATCH_SENSOR_BASE_VERSION_H_

namespace tgd {

inline constexpr char kVersion[] = "v0.1.0";
inline constexpr char kProductName[] = "tgdispatch";

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BASE_VERSION_H_
