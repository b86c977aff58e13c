// errno -> absl::Status conversion.
#include "sensor/base/errno_status.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tgd {

absl::Status ErrnoStatus(int err, absl::string_view what) {
  err = std::abs(err);
  if (err == 0) err = EINVAL;
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", std::strerror(err)));
}

absl::Status LibbpfStatus(int ret, absl::string_view what) {
  if (ret >= 0) return absl::OkStatus();
  return ErrnoStatus(ret, what);
}

}  // namespace tgd
