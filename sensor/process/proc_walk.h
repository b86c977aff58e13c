// Reads the processes that run before the sensor starts from /proc, so that
// they have process cache entries (Tetragon flag "procFS").
#ifndef TGDISPATCH_SENSOR_PROCESS_PROC_WALK_H_
#define TGDISPATCH_SENSOR_PROCESS_PROC_WALK_H_

#include <optional>
#include <string>
#include <vector>

#include "sensor/process/process_cache.h"

namespace tgd {

// One /proc/<pid> entry as an ExecRecord: ktime is the start time from
// /proc/<pid>/stat on the CLOCK_MONOTONIC scale of ring records (tick
// precision, never later than the real start), observed_ns when the read
// began. nullopt when the process vanished or is a kernel thread.
std::optional<ExecRecord> ReadProcProcess(const std::string& proc_root, uint32_t pid);

// Every user-space process under `proc_root`, parents before children
// (ordered by start time).
std::vector<ExecRecord> ReadProcProcesses(const std::string& proc_root = "/proc");

// `records` (ordered by start time) with every record's listed ancestors
// moved before it; the order is kept otherwise. A parent and a child forked
// in the same clock tick have equal /proc start times.
std::vector<ExecRecord> ParentsFirst(std::vector<ExecRecord> records);

// Formats a NUL-separated argv buffer as Tetragon's `arguments`: argv[1..]
// joined by single spaces.
std::string JoinArguments(const char* argv, size_t len);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_PROCESS_PROC_WALK_H_
