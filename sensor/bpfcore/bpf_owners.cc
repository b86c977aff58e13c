// libbpf print callback -> glog.
#include "sensor/bpfcore/bpf_owners.h"

#include <glog/logging.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace tgd {
namespace {

int LibbpfPrint(enum libbpf_print_level level, const char* format,
                va_list args) {
  // Verifier logs arrive as one long message: size the buffer to it.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string line(n > 0 ? n : 0, '\0');
  if (n > 0) vsnprintf(line.data(), line.size() + 1, format, args);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  switch (level) {
    case LIBBPF_WARN:
      LOG(WARNING) << "libbpf: " << line;
      break;
    case LIBBPF_INFO:
      VLOG(1) << "libbpf: " << line;
      break;
    default:
      VLOG(2) << "libbpf: " << line;
      break;
  }
  return 0;
}

}  // namespace

void InstallLibbpfLogging() { libbpf_set_print(LibbpfPrint); }

}  // namespace tgd
