// Test helper: tracefs as a root test run would see it, with only
// syscalls/sys_enter_openat (its format file as this kernel writes it), for
// the loader's unit tests that compile policies without a kernel.
#ifndef TGDISPATCH_SENSOR_LOADER_FAKE_TRACEFS_H_
#define TGDISPATCH_SENSOR_LOADER_FAKE_TRACEFS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sensor/loader/tracefs_format.h"

namespace tgd::testing {

inline constexpr char kOpenatFormat[] = R"(name: sys_enter_openat
ID: 782
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:int dfd;	offset:16;	size:8;	signed:0;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:int flags;	offset:32;	size:8;	signed:0;
	field:umode_t mode;	offset:40;	size:8;	signed:0;

print fmt: "dfd: 0x%08lx"
)";

// A TracepointFormatReader: the openat format, NOT_FOUND for anything else.
inline absl::StatusOr<TracepointFormat> FakeTracefs(const std::string& subsystem, const std::string& event) {
  if (subsystem == "syscalls" && event == "sys_enter_openat") return ParseTracepointFormat(kOpenatFormat);
  return absl::NotFoundError(absl::StrCat("tracepoint ", subsystem, "/", event, " does not exist on this kernel"));
}

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_LOADER_FAKE_TRACEFS_H_
