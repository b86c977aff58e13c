// Uniform access to the parts every Tetragon event carries (type, process,
// parent, ancestors, policy name), whatever its oneof case.
#ifndef TGDISPATCH_SENSOR_EVENTFILTER_EVENT_ACCESS_H_
#define TGDISPATCH_SENSOR_EVENTFILTER_EVENT_ACCESS_H_

#include <string>
#include <vector>

#include "api/events.pb.h"
#include "google/protobuf/message.h"

namespace tgd {

// The EventType of `ev` (UNDEF when no event is set).
tetragon::EventType EventTypeOf(const tetragon::GetEventsResponse& ev);

// The message inside the oneof, or nullptr.
const google::protobuf::Message* InnerEvent(const tetragon::GetEventsResponse& ev);
google::protobuf::Message* MutableInnerEvent(tetragon::GetEventsResponse* ev);

// Process / parent of the event, or nullptr when the event has none.
const tetragon::Process* EventProcess(const tetragon::GetEventsResponse& ev);
const tetragon::Process* EventParent(const tetragon::GetEventsResponse& ev);
// The event's ancestors (empty when it has none).
std::vector<const tetragon::Process*> EventAncestors(const tetragon::GetEventsResponse& ev);
// policy_name of policy events; "" for others.
std::string EventPolicyName(const tetragon::GetEventsResponse& ev);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EVENTFILTER_EVENT_ACCESS_H_
