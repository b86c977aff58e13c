// Event accessors through protobuf reflection on the oneof's message, which
// by Tetragon's convention names its fields process/parent/ancestors/policy_name.
#include "sensor/eventfilter/event_access.h"

#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace tgd {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

const FieldDescriptor* Field(const Message& m, const char* name) {
  return m.GetDescriptor()->FindFieldByName(name);
}

const tetragon::Process* ProcessField(const tetragon::GetEventsResponse& ev, const char* name) {
  const Message* inner = InnerEvent(ev);
  if (inner == nullptr) return nullptr;
  const FieldDescriptor* fd = Field(*inner, name);
  if (fd == nullptr || fd->message_type() != tetragon::Process::descriptor()) return nullptr;
  if (!inner->GetReflection()->HasField(*inner, fd)) return nullptr;
  return static_cast<const tetragon::Process*>(&inner->GetReflection()->GetMessage(*inner, fd));
}

}  // namespace

tetragon::EventType EventTypeOf(const tetragon::GetEventsResponse& ev) {
  int n = static_cast<int>(ev.event_case());
  return tetragon::EventType_IsValid(n) ? static_cast<tetragon::EventType>(n) : tetragon::UNDEF;
}

const Message* InnerEvent(const tetragon::GetEventsResponse& ev) {
  if (ev.event_case() == tetragon::GetEventsResponse::EVENT_NOT_SET) return nullptr;
  const FieldDescriptor* fd = ev.GetDescriptor()->FindFieldByNumber(ev.event_case());
  return &ev.GetReflection()->GetMessage(ev, fd);
}

Message* MutableInnerEvent(tetragon::GetEventsResponse* ev) {
  if (ev->event_case() == tetragon::GetEventsResponse::EVENT_NOT_SET) return nullptr;
  const FieldDescriptor* fd = ev->GetDescriptor()->FindFieldByNumber(ev->event_case());
  return ev->GetReflection()->MutableMessage(ev, fd);
}

const tetragon::Process* EventProcess(const tetragon::GetEventsResponse& ev) {
  return ProcessField(ev, "process");
}

const tetragon::Process* EventParent(const tetragon::GetEventsResponse& ev) {
  return ProcessField(ev, "parent");
}

std::vector<const tetragon::Process*> EventAncestors(const tetragon::GetEventsResponse& ev) {
  std::vector<const tetragon::Process*> out;
  const Message* inner = InnerEvent(ev);
  if (inner == nullptr) return out;
  const FieldDescriptor* fd = Field(*inner, "ancestors");
  if (fd == nullptr || !fd->is_repeated() || fd->message_type() != tetragon::Process::descriptor()) {
    return out;
  }
  const auto* refl = inner->GetReflection();
  for (int i = 0; i < refl->FieldSize(*inner, fd); ++i) {
    out.push_back(static_cast<const tetragon::Process*>(&refl->GetRepeatedMessage(*inner, fd, i)));
  }
  return out;
}

std::string EventPolicyName(const tetragon::GetEventsResponse& ev) {
  const Message* inner = InnerEvent(ev);
  if (inner == nullptr) return "";
  const FieldDescriptor* fd = Field(*inner, "policy_name");
  if (fd == nullptr || fd->type() != FieldDescriptor::TYPE_STRING) return "";
  return inner->GetReflection()->GetString(*inner, fd);
}

}  // namespace tgd
