// Fixed, realistic Tetragon events shared by the export tests and the golden
// file (testdata/export/events.jsonl): a process_exec in a pod with its
// parent, a process_exit by signal, a process_tracepoint with arguments.
#ifndef TGDISPATCH_SENSOR_EXPORT_TEST_EVENTS_H_
#define TGDISPATCH_SENSOR_EXPORT_TEST_EVENTS_H_

#include <vector>

#include "api/events.pb.h"

namespace tgd {
namespace testing {

tetragon::GetEventsResponse GoldenExec();
tetragon::GetEventsResponse GoldenExit();
tetragon::GetEventsResponse GoldenTracepoint();
// The three above, in the golden file's order.
std::vector<tetragon::GetEventsResponse> GoldenEvents();

}  // namespace testing
}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EXPORT_TEST_EVENTS_H_
