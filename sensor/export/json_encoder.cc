// Protobuf-JSON encoder (see json_encoder.h for the format): the typed fast
// paths for Tetragon events, the registry of shared process JSON, and the
// public entry points. The generic reflection writer is in
// json_reflection_writer.cc, string escaping and timestamp pieces in
// json_text.cc.
#include "sensor/export/json_encoder.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "api/events.pb.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "sensor/export/json_reflection_writer.h"
#include "sensor/export/json_text.h"

namespace tgd {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using json_internal::AppendJsonString;

// JSON objects of registered shared processes and process sub-messages
// (RegisterSharedProcess, RegisterSharedMessage): an empty string until the
// first event that carries the object is encoded.
class SharedProcessJson {
 public:
  static SharedProcessJson& Get() {
    static SharedProcessJson* const instance = new SharedProcessJson();  // never destroyed
    return *instance;
  }
  enum class Found { kNo, kAppended, kRegistered };
  // Whether anything is registered (no lock).
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }
  std::mutex& mu() { return mu_; }
  // Appends the cached JSON of `p` when there is one. Requires mu().
  Found LookupLocked(const void* p, std::string* out) {
    auto it = json_.find(p);
    if (it == json_.end()) return Found::kNo;
    if (it->second.empty()) return Found::kRegistered;
    out->append(it->second);
    return Found::kAppended;
  }
  // Requires mu().
  void StoreLocked(const void* p, absl::string_view json) {
    auto it = json_.find(p);
    if (it != json_.end() && it->second.empty()) it->second.assign(json.data(), json.size());
  }
  void Register(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    json_[p].clear();
    count_.store(json_.size(), std::memory_order_release);
  }
  void Unregister(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    json_.erase(p);
    count_.store(json_.size(), std::memory_order_release);
  }

 private:
  std::atomic<size_t> count_{0};
  // std::mutex, not absl::Mutex: it is taken under other locks (the process
  // cache's), and absl's deadlock detection would track every such nesting.
  std::mutex mu_;
  absl::flat_hash_map<const void*, std::string> json_;
};

class Writer : public json_internal::JsonReflectionWriter {
 public:
  explicit Writer(std::string* out) : JsonReflectionWriter(out) {}

  // ---- Typed fast paths -------------------------------------------------
  // The messages every event carries, written through generated accessors
  // (no reflection), in declaration order with the same presence rules as
  // WriteMessage; rarer sub-messages go through WriteMessage. Kept honest by
  // json_encoder_test, which compares both paths on messages with every
  // field set.
  void Event(const tetragon::GetEventsResponse& ev) {
    Obj o(this);
    switch (ev.event_case()) {
      case tetragon::GetEventsResponse::kProcessExec: {
        o.Key("process_exec");
        Obj x(this);
        const auto& e = ev.process_exec();
        if (e.has_process()) x.Key("process"), Proc(e.process());
        if (e.has_parent()) x.Key("parent"), Proc(e.parent());
        Procs(x, "ancestors", e.ancestors());
        break;
      }
      case tetragon::GetEventsResponse::kProcessExit: {
        o.Key("process_exit");
        Obj x(this);
        const auto& e = ev.process_exit();
        if (e.has_process()) x.Key("process"), Proc(e.process());
        if (e.has_parent()) x.Key("parent"), Proc(e.parent());
        Str(x, "signal", e.signal());
        U32(x, "status", e.status());
        if (e.has_time()) x.Key("time"), WriteTimestampValue(e.time().seconds(), e.time().nanos());
        Procs(x, "ancestors", e.ancestors());
        break;
      }
      case tetragon::GetEventsResponse::kProcessTracepoint: {
        o.Key("process_tracepoint");
        Obj x(this);
        const auto& e = ev.process_tracepoint();
        if (e.has_process()) x.Key("process"), Proc(e.process());
        if (e.has_parent()) x.Key("parent"), Proc(e.parent());
        Str(x, "subsys", e.subsys());
        Str(x, "event", e.event());
        if (e.args_size()) {
          x.Key("args");
          out_->push_back('[');
          for (int i = 0; i < e.args_size(); ++i) {
            if (i) out_->push_back(',');
            Arg(e.args(i));
          }
          out_->push_back(']');
        }
        Str(x, "policy_name", e.policy_name());
        if (e.action() != 0) {
          x.Key("action");
          Enum(tetragon::KprobeAction_IsValid(e.action()), tetragon::KprobeAction_Name(e.action()),
               e.action());
        }
        Str(x, "message", e.message());
        if (e.tags_size()) {
          x.Key("tags");
          out_->push_back('[');
          for (int i = 0; i < e.tags_size(); ++i) {
            if (i) out_->push_back(',');
            AppendJsonString(e.tags(i), out_);
          }
          out_->push_back(']');
        }
        Procs(x, "ancestors", e.ancestors());
        break;
      }
      case tetragon::GetEventsResponse::EVENT_NOT_SET:
        break;
      default: {
        const FieldDescriptor* f = ev.GetDescriptor()->FindFieldByNumber(ev.event_case());
        o.Key(f->name());
        WriteMessage(ev.GetReflection()->GetMessage(ev, f));
      }
    }
    Str(o, "node_name", ev.node_name());
    if (ev.has_time()) o.Key("time"), WriteTimestampValue(ev.time().seconds(), ev.time().nanos());
    Reflected(o, ev, "aggregation_info", ev.has_aggregation_info());
    Str(o, "cluster_name", ev.cluster_name());
    Reflected(o, ev, "node_labels", !ev.node_labels().empty());
  }

 private:
  // Writes '{' now and '}' when it goes; Key() adds the separators.
  class Obj {
   public:
    explicit Obj(Writer* w) : out_(w->out_) { out_->push_back('{'); }
    ~Obj() { out_->push_back('}'); }
    void Key(absl::string_view k) {
      // One append of ,"key": (or "key":) built on the stack.
      char buf[64];
      if (k.size() + 4 > sizeof(buf)) {
        out_->append(first_ ? "\"" : ",\"");
        out_->append(k.data(), k.size());
        out_->append("\":");
      } else {
        char* p = buf;
        if (!first_) *p++ = ',';
        *p++ = '"';
        memcpy(p, k.data(), k.size());
        p += k.size();
        *p++ = '"';
        *p++ = ':';
        out_->append(buf, p - buf);
      }
      first_ = false;
    }

   private:
    std::string* out_;
    bool first_ = true;
  };

  void Num(uint64_t v) {
    char buf[32];
    char* end = absl::numbers_internal::FastIntToBuffer(v, buf);
    out_->append(buf, end - buf);
  }
  void NumSigned(int64_t v) {
    char buf[32];
    char* end = absl::numbers_internal::FastIntToBuffer(v, buf);
    out_->append(buf, end - buf);
  }
  void Str(Obj& o, absl::string_view key, const std::string& v) {
    if (v.empty()) return;
    o.Key(key);
    AppendJsonString(v, out_);
  }
  void U32(Obj& o, absl::string_view key, uint32_t v) {
    if (v == 0) return;
    o.Key(key);
    Num(v);
  }
  void Bool(Obj& o, absl::string_view key, bool v) {
    if (!v) return;
    o.Key(key);
    out_->append("true");
  }
  void U32Value(Obj& o, absl::string_view key, bool has, const google::protobuf::UInt32Value& v) {
    if (!has) return;
    o.Key(key);
    Num(v.value());
  }
  void Enum(bool valid, const std::string& name, int number) {
    if (valid) {
      out_->push_back('"');
      out_->append(name);
      out_->push_back('"');
    } else {
      NumSigned(number);
    }
  }
  // A rarely set field of `m`, by name, through reflection; `present` is
  // its presence as WriteMessage sees it (has_x() / x_size() > 0), checked
  // first so the common case costs no descriptor lookup.
  void Reflected(Obj& o, const Message& m, const char* name, bool present) {
    if (!present) return;
    const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
    o.Key(name);
    WriteField(m, f);
  }
  void Procs(Obj& o, absl::string_view key,
             const google::protobuf::RepeatedPtrField<tetragon::Process>& ps) {
    if (ps.empty()) return;
    o.Key(key);
    out_->push_back('[');
    for (int i = 0; i < ps.size(); ++i) {
      if (i) out_->push_back(',');
      Proc(ps[i]);
    }
    out_->push_back(']');
  }
  void Caps(const google::protobuf::RepeatedField<int>& caps) {
    out_->push_back('[');
    // "\"CAP_...\"" for every valid value, built once.
    static const std::vector<std::string>* const kNames = [] {
      auto* names = new std::vector<std::string>(tetragon::CapabilitiesType_MAX + 1);
      for (int c = 0; c <= tetragon::CapabilitiesType_MAX; ++c) {
        if (!tetragon::CapabilitiesType_IsValid(c)) continue;
        (*names)[c] = absl::StrCat("\"", tetragon::CapabilitiesType_Name(
                                             static_cast<tetragon::CapabilitiesType>(c)), "\"");
      }
      return names;
    }();
    for (int i = 0; i < caps.size(); ++i) {
      if (i) out_->push_back(',');
      const int c = caps[i];
      if (c >= 0 && c < static_cast<int>(kNames->size()) && !(*kNames)[c].empty()) {
        out_->append((*kNames)[c]);
      } else {
        NumSigned(c);
      }
    }
    out_->push_back(']');
  }
  void Capabilities(const tetragon::Capabilities& c) {
    Obj o(this);
    if (c.permitted_size()) o.Key("permitted"), Caps(c.permitted());
    if (c.effective_size()) o.Key("effective"), Caps(c.effective());
    if (c.inheritable_size()) o.Key("inheritable"), Caps(c.inheritable());
  }
  void Ns(Obj& o, absl::string_view key, bool has, const tetragon::Namespace& n) {
    if (!has) return;
    o.Key(key);
    Obj x(this);
    U32(x, "inum", n.inum());
    Bool(x, "is_host", n.is_host());
  }
  void Namespaces(const tetragon::Namespaces& n) {
    Obj o(this);
    Ns(o, "uts", n.has_uts(), n.uts());
    Ns(o, "ipc", n.has_ipc(), n.ipc());
    Ns(o, "mnt", n.has_mnt(), n.mnt());
    Ns(o, "pid", n.has_pid(), n.pid());
    Ns(o, "pid_for_children", n.has_pid_for_children(), n.pid_for_children());
    Ns(o, "net", n.has_net(), n.net());
    Ns(o, "time", n.has_time(), n.time());
    Ns(o, "time_for_children", n.has_time_for_children(), n.time_for_children());
    Ns(o, "cgroup", n.has_cgroup(), n.cgroup());
    Ns(o, "user", n.has_user(), n.user());
  }
  void Credentials(const tetragon::ProcessCredentials& c) {
    Obj o(this);
    U32Value(o, "uid", c.has_uid(), c.uid());
    U32Value(o, "gid", c.has_gid(), c.gid());
    U32Value(o, "euid", c.has_euid(), c.euid());
    U32Value(o, "egid", c.has_egid(), c.egid());
    U32Value(o, "suid", c.has_suid(), c.suid());
    U32Value(o, "sgid", c.has_sgid(), c.sgid());
    U32Value(o, "fsuid", c.has_fsuid(), c.fsuid());
    U32Value(o, "fsgid", c.has_fsgid(), c.fsgid());
    Reflected(o, c, "securebits", c.securebits_size() > 0);
    if (c.has_caps()) o.Key("caps"), Capabilities(c.caps());
    Reflected(o, c, "user_ns", c.has_user_ns());
  }
  void Pod(const tetragon::Pod& p) {
    Obj o(this);
    Str(o, "namespace", p.namespace_());
    Str(o, "name", p.name());
    Str(o, "uid", p.uid());
    if (p.has_container()) {
      o.Key("container");
      const tetragon::Container& c = p.container();
      Obj x(this);
      Str(x, "id", c.id());
      Str(x, "name", c.name());
      if (c.has_image()) {
        x.Key("image");
        Obj i(this);
        Str(i, "id", c.image().id());
        Str(i, "name", c.image().name());
      }
      if (c.has_start_time()) {
        x.Key("start_time");
        WriteTimestampValue(c.start_time().seconds(), c.start_time().nanos());
      }
      U32Value(x, "pid", c.has_pid(), c.pid());
      Bool(x, "maybe_exec_probe", c.maybe_exec_probe());
      Reflected(x, c, "security_context", c.has_security_context());
    }
    StringMap(o, "pod_labels", p.pod_labels());
    Str(o, "workload", p.workload());
    Str(o, "workload_kind", p.workload_kind());
    StringMap(o, "pod_annotations", p.pod_annotations());
  }
  // A process: its cached JSON when it is a registered shared process that
  // was encoded before, else written (and cached when registered).
  // map<string, string>, keys sorted (as WriteMap).
  void StringMap(Obj& o, absl::string_view key, const google::protobuf::Map<std::string, std::string>& m) {
    if (m.empty()) return;
    o.Key(key);
    absl::InlinedVector<std::pair<const std::string*, const std::string*>, 8> entries;
    entries.reserve(m.size());
    for (const auto& [k, v] : m) entries.emplace_back(&k, &v);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
    out_->push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out_->push_back(',');
      AppendJsonString(*entries[i].first, out_);
      out_->push_back(':');
      AppendJsonString(*entries[i].second, out_);
    }
    out_->push_back('}');
  }
  // The registry lock is taken once per process object (for its own lookup
  // and those of its shared sub-messages), not once per lookup.
  void Proc(const tetragon::Process& p) {
    const bool outer = !registry_lock_.owns_lock();
    Spliced(&p, [&] { ProcFields(p); });
    if (outer && registry_lock_.owns_lock()) registry_lock_.unlock();
  }
  // write() for `m`, or the cached JSON of `m` when it is a registered
  // shared object that was written before (and cached when registered).
  template <typename Write>
  void Spliced(const void* m, Write write) {
    auto& shared = SharedProcessJson::Get();
    if (shared.empty()) {
      write();
      return;
    }
    if (!registry_lock_.owns_lock()) registry_lock_ = std::unique_lock<std::mutex>(shared.mu());
    const auto found = shared.LookupLocked(m, out_);
    if (found == SharedProcessJson::Found::kAppended) return;
    const size_t start = out_->size();
    const bool fallback_before = fallback_;
    write();
    if (found == SharedProcessJson::Found::kRegistered && !fallback_ && !fallback_before) {
      shared.StoreLocked(m, absl::string_view(*out_).substr(start));
    }
  }
  void ProcFields(const tetragon::Process& p) {
    Obj o(this);
    Str(o, "exec_id", p.exec_id());
    U32Value(o, "pid", p.has_pid(), p.pid());
    U32Value(o, "uid", p.has_uid(), p.uid());
    Str(o, "cwd", p.cwd());
    Str(o, "binary", p.binary());
    Str(o, "arguments", p.arguments());
    Str(o, "flags", p.flags());
    if (p.has_start_time()) {
      o.Key("start_time");
      WriteTimestampValue(p.start_time().seconds(), p.start_time().nanos());
    }
    U32Value(o, "auid", p.has_auid(), p.auid());
    if (p.has_pod()) o.Key("pod"), Spliced(&p.pod(), [&] { Pod(p.pod()); });
    Str(o, "docker", p.docker());
    Str(o, "parent_exec_id", p.parent_exec_id());
    U32(o, "refcnt", p.refcnt());
    if (p.has_cap()) o.Key("cap"), Spliced(&p.cap(), [&] { Capabilities(p.cap()); });
    if (p.has_ns()) o.Key("ns"), Spliced(&p.ns(), [&] { Namespaces(p.ns()); });
    U32Value(o, "tid", p.has_tid(), p.tid());
    if (p.has_process_credentials()) {
      o.Key("process_credentials");
      Spliced(&p.process_credentials(), [&] { Credentials(p.process_credentials()); });
    }
    Reflected(o, p, "binary_properties", p.has_binary_properties());
    Reflected(o, p, "user", p.has_user());
    if (p.has_in_init_tree()) {
      o.Key("in_init_tree");
      out_->append(p.in_init_tree().value() ? "true" : "false");
    }
    Reflected(o, p, "environment_variables", p.environment_variables_size() > 0);
  }
  void Arg(const tetragon::KprobeArgument& a) {
    using A = tetragon::KprobeArgument;
    switch (a.arg_case()) {
      case A::kStringArg:
      case A::kIntArg:
      case A::kSizeArg:
      case A::kBytesArg:
      case A::kLongArg:
      case A::kUintArg:
      case A::ARG_NOT_SET:
        break;
      default:
        WriteMessage(a);  // structured arguments: reflection
        return;
    }
    Obj o(this);
    switch (a.arg_case()) {
      case A::kStringArg:
        o.Key("string_arg");
        AppendJsonString(a.string_arg(), out_);
        break;
      case A::kIntArg:
        o.Key("int_arg");
        NumSigned(a.int_arg());
        break;
      case A::kSizeArg:
        o.Key("size_arg");
        out_->push_back('"');
        Num(a.size_arg());
        out_->push_back('"');
        break;
      case A::kBytesArg:
        o.Key("bytes_arg");
        out_->push_back('"');
        out_->append(absl::Base64Escape(a.bytes_arg()));
        out_->push_back('"');
        break;
      case A::kLongArg:
        o.Key("long_arg");
        out_->push_back('"');
        NumSigned(a.long_arg());
        out_->push_back('"');
        break;
      case A::kUintArg:
        o.Key("uint_arg");
        Num(a.uint_arg());
        break;
      default:
        break;
    }
    Str(o, "label", a.label());
  }

  // Held while a process object is written (Proc).
  std::unique_lock<std::mutex> registry_lock_;
};

}  // namespace

void RegisterSharedProcess(const tetragon::Process* process) {
  SharedProcessJson::Get().Register(process);
}

void UnregisterSharedProcess(const tetragon::Process* process) {
  SharedProcessJson::Get().Unregister(process);
}

void RegisterSharedMessage(const google::protobuf::Message* message) {
  SharedProcessJson::Get().Register(message);
}

void UnregisterSharedMessage(const google::protobuf::Message* message) {
  SharedProcessJson::Get().Unregister(message);
}

absl::Status AppendMessageJsonReflection(const google::protobuf::Message& message, std::string* out) {
  const size_t start = out->size();
  Writer w(out);
  w.WriteMessage(message);
  if (!w.needs_fallback()) return absl::OkStatus();
  out->resize(start);
  std::string json;
  absl::Status st = ReferenceMessageJson(message, &json);
  if (!st.ok()) return st;
  out->append(json);
  return absl::OkStatus();
}

absl::Status ReferenceMessageJson(const google::protobuf::Message& message, std::string* out) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  out->clear();
  auto st = google::protobuf::util::MessageToJsonString(message, out, opts);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("JSON encoding of ", message.GetDescriptor()->full_name(), ": ",
                     std::string(st.message().data(), st.message().size())));
  }
  return absl::OkStatus();
}

absl::Status AppendMessageJson(const google::protobuf::Message& message, std::string* out) {
  const size_t start = out->size();
  Writer w(out);
  if (const auto* ev = dynamic_cast<const tetragon::GetEventsResponse*>(&message); ev != nullptr) {
    w.Event(*ev);
  } else {
    w.WriteMessage(message);
  }
  if (!w.needs_fallback()) return absl::OkStatus();
  out->resize(start);
  std::string json;
  absl::Status st = ReferenceMessageJson(message, &json);
  if (!st.ok()) return st;
  out->append(json);
  return absl::OkStatus();
}

absl::Status ParseMessageJson(absl::string_view json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(std::string(st.message().data(), st.message().size()));
  }
  return absl::OkStatus();
}

}  // namespace tgd
