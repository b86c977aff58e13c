// libbpf print callback -> glog.
#include "sensor/bpfcore/bpf_owners.h"

#include <glog/logging.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace tgd {

// The capture of the current thread, if any.
struct LibbpfCaptureAccess {
  static thread_local LibbpfWarningCapture* current;
  static void Add(std::string line) {
    if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
    current->lines_.push_back(std::move(line));
  }
};
thread_local LibbpfWarningCapture* LibbpfCaptureAccess::current = nullptr;

LibbpfWarningCapture::LibbpfWarningCapture() { LibbpfCaptureAccess::current = this; }
LibbpfWarningCapture::~LibbpfWarningCapture() {
  if (LibbpfCaptureAccess::current == this) LibbpfCaptureAccess::current = nullptr;
}

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
  if (line.find("try raising 'ulimit -l'") != std::string::npos) {
    VLOG(1) << "libbpf: " << line;
    return 0;
  }
  if (level == LIBBPF_WARN && LibbpfCaptureAccess::current != nullptr) {
    VLOG(1) << "libbpf: " << line;
    LibbpfCaptureAccess::Add(std::move(line));
    return 0;
  }
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
