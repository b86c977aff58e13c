// EventFilter implementation.
#include "sensor/eventfilter/event_filter.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "compat/labels/selector_string.h"
#include "re2/re2.h"
#include "sensor/eventfilter/event_access.h"

namespace tgd {

using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;

// One compiled tetragon.Filter. A member that is empty/nullopt is unset.
class CompiledFilter {
 public:
  static absl::StatusOr<std::unique_ptr<CompiledFilter>> Compile(const tetragon::Filter& f,
                                                                 const std::string& where);
  bool Matches(const tetragon::GetEventsResponse& ev) const;

 private:
  using Regexes = std::vector<std::unique_ptr<RE2>>;
  static bool AnyMatch(const Regexes& res, const std::string& s) {
    return std::any_of(res.begin(), res.end(),
                       [&](const std::unique_ptr<RE2>& re) { return RE2::PartialMatch(s, *re); });
  }

  Regexes binary_, pod_, arguments_, parent_binary_, parent_arguments_, container_id_, ancestor_binary_,
      container_name_, namespace_re_;
  std::vector<std::string> namespaces_;
  bool has_namespace_ = false;
  std::optional<bool> health_check_, in_init_tree_;
  absl::flat_hash_set<uint32_t> pids_, pid_set_;
  absl::flat_hash_set<int> event_set_;
  std::vector<labels::LabelSelector> labels_;
  absl::flat_hash_set<std::string> policy_names_;
  std::optional<tetragon::CapFilter> caps_;
};

namespace {

absl::Status CompileRegexes(const RepeatedPtrField<std::string>& in, const std::string& where,
                            std::vector<std::unique_ptr<RE2>>* out) {
  for (int i = 0; i < in.size(); ++i) {
    auto re = std::make_unique<RE2>(in[i], RE2::Quiet);
    if (!re->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "[", i, "]: invalid RE2 pattern \"", in[i], "\": ", re->error()));
    }
    out->push_back(std::move(re));
  }
  return absl::OkStatus();
}

bool HasCap(const RepeatedField<int>& set, int cap) {
  return std::find(set.begin(), set.end(), cap) != set.end();
}

// Tetragon's CapFilterSet: exactly one of any/all/exactly/none is used.
bool CapSetMatches(const tetragon::CapFilterSet& f, const RepeatedField<int>& have) {
  if (!f.any().empty()) {
    return std::any_of(f.any().begin(), f.any().end(), [&](int c) { return HasCap(have, c); });
  }
  if (!f.all().empty()) {
    return std::all_of(f.all().begin(), f.all().end(), [&](int c) { return HasCap(have, c); });
  }
  if (!f.exactly().empty()) {
    absl::flat_hash_set<int> want(f.exactly().begin(), f.exactly().end());
    absl::flat_hash_set<int> got(have.begin(), have.end());
    return want == got;
  }
  if (!f.none().empty()) {
    return std::none_of(f.none().begin(), f.none().end(), [&](int c) { return HasCap(have, c); });
  }
  return true;
}

absl::Status CheckCapSet(const tetragon::CapFilterSet& s, const std::string& where) {
  int used = !s.any().empty() + !s.all().empty() + !s.exactly().empty() + !s.none().empty();
  if (used > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": only one of any, all, exactly, none may be set"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CompiledFilter>> CompiledFilter::Compile(const tetragon::Filter& f,
                                                                        const std::string& w) {
  auto c = std::make_unique<CompiledFilter>();
  if (!f.cel_expression().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(w, ".cel_expression: CEL filters are not supported by tgdispatch"));
  }
  if (!f.GetReflection()->GetUnknownFields(f).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(w, ": carries filter fields this build does not know (newer client?); "
                        "they would be ignored, so the request is refused"));
  }
  absl::Status st;
  if (!(st = CompileRegexes(f.binary_regex(), w + ".binary_regex", &c->binary_)).ok()) return st;
  if (!(st = CompileRegexes(f.pod_regex(), w + ".pod_regex", &c->pod_)).ok()) return st;
  if (!(st = CompileRegexes(f.arguments_regex(), w + ".arguments_regex", &c->arguments_)).ok()) return st;
  if (!(st = CompileRegexes(f.parent_binary_regex(), w + ".parent_binary_regex", &c->parent_binary_)).ok()) return st;
  if (!(st = CompileRegexes(f.parent_arguments_regex(), w + ".parent_arguments_regex", &c->parent_arguments_)).ok()) return st;
  if (!(st = CompileRegexes(f.container_id(), w + ".container_id", &c->container_id_)).ok()) return st;
  if (!(st = CompileRegexes(f.ancestor_binary_regex(), w + ".ancestor_binary_regex", &c->ancestor_binary_)).ok()) return st;
  if (!(st = CompileRegexes(f.container_name_regex(), w + ".container_name_regex", &c->container_name_)).ok()) return st;
  if (!(st = CompileRegexes(f.namespace_regex(), w + ".namespace_regex", &c->namespace_re_)).ok()) return st;
  c->has_namespace_ = !f.namespace_().empty();
  c->namespaces_.assign(f.namespace_().begin(), f.namespace_().end());
  if (f.has_health_check()) c->health_check_ = f.health_check().value();
  if (f.has_in_init_tree()) c->in_init_tree_ = f.in_init_tree().value();
  c->pids_.insert(f.pid().begin(), f.pid().end());
  c->pid_set_.insert(f.pid_set().begin(), f.pid_set().end());
  for (int i = 0; i < f.event_set_size(); ++i) {
    int t = f.event_set(i);
    if (t == tetragon::UNDEF || !tetragon::EventType_IsValid(t)) {
      return absl::InvalidArgumentError(absl::StrCat(w, ".event_set[", i, "]: unknown event type ", t));
    }
    c->event_set_.insert(t);
  }
  for (int i = 0; i < f.labels_size(); ++i) {
    auto sel = labels::ParseSelectorString(f.labels(i));
    if (!sel.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(w, ".labels[", i, "]: ", sel.status().message()));
    }
    c->labels_.push_back(*std::move(sel));
  }
  c->policy_names_.insert(f.policy_names().begin(), f.policy_names().end());
  if (f.has_capabilities()) {
    const auto& cf = f.capabilities();
    if (!(st = CheckCapSet(cf.permitted(), w + ".capabilities.permitted")).ok()) return st;
    if (!(st = CheckCapSet(cf.effective(), w + ".capabilities.effective")).ok()) return st;
    if (!(st = CheckCapSet(cf.inheritable(), w + ".capabilities.inheritable")).ok()) return st;
    c->caps_ = cf;
  }
  return c;
}

bool CompiledFilter::Matches(const tetragon::GetEventsResponse& ev) const {
  const tetragon::Process* p = EventProcess(ev);
  const tetragon::Process* parent = EventParent(ev);
  static const tetragon::Process kEmpty;
  const tetragon::Process& proc = p ? *p : kEmpty;
  const tetragon::Process& par = parent ? *parent : kEmpty;

  if (!event_set_.empty() && !event_set_.contains(EventTypeOf(ev))) return false;
  if (!binary_.empty() && (!p || !AnyMatch(binary_, proc.binary()))) return false;
  if (!arguments_.empty() && (!p || !AnyMatch(arguments_, proc.arguments()))) return false;
  if (!parent_binary_.empty() && (!parent || !AnyMatch(parent_binary_, par.binary()))) return false;
  if (!parent_arguments_.empty() && (!parent || !AnyMatch(parent_arguments_, par.arguments()))) return false;
  if (!container_id_.empty() && (!p || !AnyMatch(container_id_, proc.docker()))) return false;
  if (!pod_.empty() && (!p || !proc.has_pod() || !AnyMatch(pod_, proc.pod().name()))) return false;
  // As Tetragon: a process without a pod (or a pod without a container)
  // never matches these.
  if (!container_name_.empty() &&
      (!p || !proc.has_pod() || !proc.pod().has_container() || !AnyMatch(container_name_, proc.pod().container().name()))) {
    return false;
  }
  if (!namespace_re_.empty() && (!p || !proc.has_pod() || !AnyMatch(namespace_re_, proc.pod().namespace_()))) {
    return false;
  }
  if (has_namespace_) {
    // "" selects processes outside any pod (host processes).
    const std::string ns = (p && proc.has_pod()) ? proc.pod().namespace_() : "";
    if (std::find(namespaces_.begin(), namespaces_.end(), ns) == namespaces_.end()) return false;
  }
  if (!pids_.empty() && (!p || !pids_.contains(proc.pid().value()))) return false;
  if (!pid_set_.empty()) {
    bool in = (p && pid_set_.contains(proc.pid().value())) ||
              (parent && pid_set_.contains(par.pid().value()));
    for (const tetragon::Process* a : EventAncestors(ev)) in = in || pid_set_.contains(a->pid().value());
    if (!in) return false;
  }
  if (!labels_.empty()) {
    if (!p || !proc.has_pod()) return false;
    labels::Labels l(proc.pod().pod_labels().begin(), proc.pod().pod_labels().end());
    if (std::none_of(labels_.begin(), labels_.end(),
                     [&](const labels::LabelSelector& s) { return labels::Matches(s, l); })) {
      return false;
    }
  }
  if (!policy_names_.empty() && !policy_names_.contains(EventPolicyName(ev))) return false;
  if (health_check_.has_value()) {
    // A health-check event is one whose process may come from a Kubernetes
    // exec probe (Container.maybe_exec_probe).
    bool hc = p && proc.pod().container().maybe_exec_probe();
    if (hc != *health_check_) return false;
  }
  if (in_init_tree_.has_value() && proc.in_init_tree().value() != *in_init_tree_) return false;
  if (caps_.has_value()) {
    if (!p) return false;
    if (caps_->has_permitted() && !CapSetMatches(caps_->permitted(), proc.cap().permitted())) return false;
    if (caps_->has_effective() && !CapSetMatches(caps_->effective(), proc.cap().effective())) return false;
    if (caps_->has_inheritable() && !CapSetMatches(caps_->inheritable(), proc.cap().inheritable())) return false;
  }
  if (!ancestor_binary_.empty()) {
    bool any = parent && AnyMatch(ancestor_binary_, par.binary());
    for (const tetragon::Process* a : EventAncestors(ev)) any = any || AnyMatch(ancestor_binary_, a->binary());
    if (!any) return false;
  }
  return true;
}

EventFilter::EventFilter() = default;
EventFilter::EventFilter(EventFilter&&) noexcept = default;
EventFilter& EventFilter::operator=(EventFilter&&) noexcept = default;
EventFilter::~EventFilter() = default;

absl::StatusOr<EventFilter> EventFilter::Create(const RepeatedPtrField<tetragon::Filter>& allow,
                                                const RepeatedPtrField<tetragon::Filter>& deny) {
  EventFilter ef;
  for (int i = 0; i < allow.size(); ++i) {
    auto c = CompiledFilter::Compile(allow[i], absl::StrCat("allow_list[", i, "]"));
    if (!c.ok()) return c.status();
    ef.allow_.push_back(*std::move(c));
  }
  for (int i = 0; i < deny.size(); ++i) {
    auto c = CompiledFilter::Compile(deny[i], absl::StrCat("deny_list[", i, "]"));
    if (!c.ok()) return c.status();
    ef.deny_.push_back(*std::move(c));
  }
  return ef;
}

bool EventFilter::Allows(const tetragon::GetEventsResponse& ev) const {
  if (!allow_.empty() &&
      std::none_of(allow_.begin(), allow_.end(), [&](const auto& f) { return f->Matches(ev); })) {
    return false;
  }
  return std::none_of(deny_.begin(), deny_.end(), [&](const auto& f) { return f->Matches(ev); });
}

}  // namespace tgd
