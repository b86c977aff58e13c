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
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), format, args);
  std::string line(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
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
