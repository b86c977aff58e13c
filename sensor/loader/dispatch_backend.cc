// DispatchBackend: setup (shared object, exec tracker, ring buffer) and the
// lifetime of policy entries (load, value writes, removal). The per-hook
// dispatchers are in dispatch_hooks.cc, the run lists in
// dispatch_run_lists.cc, an entry's config, config index, flags, counters
// and memory in dispatch_entry_state.cc, the per-policy comparison objects
// in dispatch_per_policy.cc, the ring buffer reader and event decoding in
// dispatch_events.cc.
#include "sensor/loader/dispatch_backend.h"

#include "compat/policy/lists.h"
#include "sensor/loader/ftrace_list.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend_internal.h"
#include "sensor/loader/dispatch_policy_internal.h"
#include "sensor/loader/tracefs_format.h"
#include "sensor/loader/uprobe_prepare.h"
#include "sensor/loader/usdt_set.h"
#include "sensor/loader/elf_file.h"
#include "sensor/loader/uprobe_target.h"
#include "sensor/process/process_sensor.h"

namespace tgd {
namespace dispatch_internal {

uint64_t FdMemlock(int fd) {
  std::ifstream in(absl::StrCat("/proc/self/fdinfo/", fd));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view l = line;
    if (absl::ConsumePrefix(&l, "memlock:")) {
      uint64_t v = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(l), &v)) return v;
    }
  }
  return 0;
}

}  // namespace dispatch_internal

namespace {

using dispatch_internal::FdMemlock;

// Chunks for `slots` live slots plus half as many replaced ones waiting for
// their grace period (the reclaimer frees them within milliseconds).
uint32_t ChunksFor(uint32_t slots, uint32_t shift) {
  uint64_t chunk = 1u << shift;
  return static_cast<uint32_t>((slots + slots / 2 + chunk - 1) / chunk + 1);
}

// Writes the exec tracker entry of every running process (its /proc/PID/exe).
void SeedExecPaths(int map_fd) {
  DIR* d = opendir("/proc");
  if (!d) return;
  while (dirent* e = readdir(d)) {
    uint32_t pid;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    char buf[TGD_STR_MAX + 16];
    ssize_t n = readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), buf, sizeof(buf) - 1);
    if (n <= 0) continue;  // kernel threads, races
    tgd_exec_path p{};
    p.len = n >= TGD_STR_MAX ? TGD_STR_MAX : static_cast<uint32_t>(n);
    memcpy(p.path, buf, std::min<size_t>(n, TGD_STR_MAX - 1));
    uint64_t words[TGD_STR_MAX / 8];
    memcpy(words, p.path, sizeof(words));
    p.hash = tgd_path_hash(words);
    bpf_map_update_elem(map_fd, &pid, &p, BPF_NOEXIST);  // never overwrite a fresher exec
  }
  closedir(d);
}

// The probed feature a policy hook needs.
HookFeature HookFeatureOf(const policy::Hook& hook) {
  switch (hook.kind) {
    case policy::HookKind::kTracepoint: return HookFeature::kTracepoint;
    case policy::HookKind::kRawTracepoint: return HookFeature::kRawTracepoint;
    case policy::HookKind::kLsm: return HookFeature::kLsm;
    case policy::HookKind::kUprobe:
    case policy::HookKind::kUsdt: return hook.is_return ? HookFeature::kUretprobe : HookFeature::kUprobe;
    case policy::HookKind::kFentry: return hook.is_return ? HookFeature::kFexit : HookFeature::kFentry;
    case policy::HookKind::kKprobe: break;
  }
  return hook.is_return ? HookFeature::kKretprobe : HookFeature::kKprobe;
}

}  // namespace

// ---------------------------------------------------------------- setup

DispatchBackend::DispatchBackend(DispatchOptions options) : opts_(std::move(options)) {
  if (!opts_.formats) opts_.formats = ReadTracepointFormat;
  if (!opts_.host_ns) opts_.host_ns = ReadHostNamespace;
}

absl::StatusOr<std::unique_ptr<DispatchBackend>> DispatchBackend::Create(DispatchOptions options) {
  InstallLibbpfLogging();
  std::unique_ptr<DispatchBackend> b(new DispatchBackend(std::move(options)));
  TGD_RETURN_IF_ERROR(b->Init());
  return b;
}

absl::Status DispatchBackend::Init() {
  features_ = &KernelFeatures::Get();
  boot_wall_ns_ = MonotonicToWallOffsetNs();
  shared_.reset(dispatch::open());
  if (!shared_) return ErrnoStatus(errno, "opening the dispatch BPF object");
  // The dispatchers and evaluators are loaded per hook (with the hook's id).
  bpf_object* obj = shared_->obj;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    const char* name = bpf_program__name(prog);
    if (!absl::EndsWith(name, "_track")) bpf_program__set_autoload(prog, false);
  }
  TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__set_max_entries(shared_->maps.tgd_cfg_index, opts_.max_policies),
                                   "sizing tgd_cfg_index"));
  // The per-policy loader's config map: each of its objects has its own.
  TGD_RETURN_IF_ERROR(
      LibbpfStatus(bpf_map__set_max_entries(shared_->maps.tgd_policy_cfgs, 1), "sizing tgd_policy_cfgs"));
  TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__set_max_entries(shared_->maps.tgd_run_lists, opts_.max_run_lists),
                                   "sizing tgd_run_lists"));
  TGD_RETURN_IF_ERROR(LibbpfStatus(
      bpf_map__set_max_entries(shared_->maps.tgd_policy_counters, opts_.max_policies), "sizing tgd_policy_counters"));
  TGD_RETURN_IF_ERROR(LibbpfStatus(
      bpf_map__set_max_entries(shared_->maps.tgd_cfg_chunks, ChunksFor(opts_.max_policies, TGD_CFG_CHUNK_SHIFT)),
      "sizing tgd_cfg_chunks"));
  TGD_RETURN_IF_ERROR(LibbpfStatus(
      bpf_map__set_max_entries(shared_->maps.tgd_run_chunks, ChunksFor(opts_.max_run_lists, TGD_RUN_CHUNK_SHIFT)),
      "sizing tgd_run_chunks"));
  // The chunk templates only describe the value types.
  for (bpf_map* tmpl : {shared_->maps.tgd_cfg_template, shared_->maps.tgd_run_template}) {
    TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__set_max_entries(tmpl, 1), "sizing a slot template"));
  }
  if (opts_.filter && opts_.filter->cgtracker_fd() >= 0) {
    TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__reuse_fd(shared_->maps.tg_cgtracker_map, opts_.filter->cgtracker_fd()),
                                     "sharing tg_cgtracker_map"));
  }
  if (opts_.filter && opts_.filter->policy_filter_maps_fd() >= 0) {
    TGD_RETURN_IF_ERROR(LibbpfStatus(
        bpf_map__reuse_fd(shared_->maps.policy_filter_maps, opts_.filter->policy_filter_maps_fd()),
        "sharing policy_filter_maps"));
    TGD_RETURN_IF_ERROR(LibbpfStatus(
        bpf_map__reuse_fd(shared_->maps.policy_filter_cgroup_maps, opts_.filter->policy_filter_cgroup_maps_fd()),
        "sharing policy_filter_cgroup_maps"));
  }
  TGD_RETURN_IF_ERROR(LibbpfStatus(
      bpf_map__set_max_entries(shared_->maps.tgd_stacks, std::max<uint32_t>(opts_.stack_trace_entries, 1)),
      "sizing tgd_stacks"));
  TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__set_max_entries(shared_->maps.tgd_events, opts_.events_ring_bytes),
                                   "sizing tgd_events (events_ring_bytes)"));
  TGD_RETURN_IF_ERROR(LibbpfStatus(dispatch::load(shared_.get()), "loading the dispatch BPF object"));
  symbolizer_ = std::make_unique<Symbolizer>(SymbolizerOptions{.expose_addresses = opts_.expose_stack_addresses});
  user_actions_ = std::make_unique<UserActionRunner>(opts_.user_actions);
  ImaHasherOptions ima;
  ima.algo = opts_.ima_hash_algo ? *opts_.ima_hash_algo : RunningKernelImaAlgorithm();
  ima_hasher_ = std::make_unique<ImaHasher>(std::move(ima), [this](tetragon::GetEventsResponse e) {
    if (opts_.bus) opts_.bus->Publish(std::move(e));
  });
  if (opts_.pins) {
    // The shared maps are pinned with the links: the tail-call arrays above
    // all (the kernel empties a PROG_ARRAY when its last user-space holder
    // goes, and a pin is one), and the others so that a kept run's state can
    // be inspected (bpftool) and read by the next run.
    bpf_map* m;
    bpf_object__for_each_map(m, shared_->obj) {
      const char* name = bpf_map__name(m);
      if (strchr(name, '.') != nullptr || bpf_map__fd(m) < 0) continue;  // .rodata, .bss: internal
      // The policy filter's maps are its own (or a Tetragon agent's): pinned,
      // if at all, by their owner.
      if (m == shared_->maps.policy_filter_maps || m == shared_->maps.policy_filter_cgroup_maps ||
          m == shared_->maps.tg_cgtracker_map) {
        continue;
      }
      TGD_RETURN_IF_ERROR(opts_.pins->Pin(bpf_map__fd(m), absl::StrCat("map-", name)));
    }
  }
  for (bpf_program* p : {shared_->progs.tgd_exec_track, shared_->progs.tgd_fork_track, shared_->progs.tgd_exit_track}) {
    bpf_link* link = bpf_program__attach(p);
    if (!link) return ErrnoStatus(errno, absl::StrCat("attaching ", bpf_program__name(p)));
    tracker_links_.emplace_back(link);
    if (opts_.pins) {
      // The pinned dispatchers' matchBinaries need the exec tracker kept up to date.
      TGD_RETURN_IF_ERROR(opts_.pins->Pin(bpf_link__fd(link), bpf_program__name(p)));
    }
  }
  if (opts_.seed_exec_paths) SeedExecPaths(bpf_map__fd(shared_->maps.tgd_exec_paths));

  // Config and run-list slots, one chunk each up front (the first adds
  // wait for no grace period), and their reclaimer.
  cfg_pool_ = std::make_unique<SlotPool>("tgd_cfg", bpf_map__fd(shared_->maps.tgd_cfg_chunks), sizeof(tgd_cfg_slot),
                                         TGD_CFG_CHUNK_SHIFT, bpf_map__max_entries(shared_->maps.tgd_cfg_chunks));
  run_pool_ = std::make_unique<SlotPool>("tgd_run", bpf_map__fd(shared_->maps.tgd_run_chunks), sizeof(tgd_run_slot),
                                         TGD_RUN_CHUNK_SHIFT, bpf_map__max_entries(shared_->maps.tgd_run_chunks));
  for (SlotPool* pool : {cfg_pool_.get(), run_pool_.get()}) {
    TGD_ASSIGN_OR_RETURN(uint32_t first, pool->Allocate());
    pool->Unallocate(first);
  }
  gates_ = std::make_unique<GateUnion>(bpf_map__fd(shared_->maps.tgd_int_values));
  TGD_ASSIGN_OR_RETURN(GracePeriod gp, GracePeriod::Create());
  reclaimer_ = std::make_unique<Reclaimer>(std::move(gp), std::vector<SlotPool*>{cfg_pool_.get(), run_pool_.get()});

  rb_.reset(ring_buffer__new(bpf_map__fd(shared_->maps.tgd_events), &DispatchBackend::OnRecord, this, nullptr));
  if (!rb_) return ErrnoStatus(errno, "ring_buffer__new(tgd_events)");
  if (opts_.filter) {
    filter_observer_ =
        opts_.filter->AddObserver([this](const std::vector<uint64_t>& cgroups) { OnCgroupsChanged(cgroups); });
  }
  if (opts_.start_reader) reader_ = std::thread([this] { ReaderLoop(); });
  return absl::OkStatus();
}

DispatchBackend::~DispatchBackend() {
  // The filter state may outlive this backend (a test makes another on it).
  if (opts_.filter && filter_observer_ != 0) opts_.filter->RemoveObserver(filter_observer_);
  stop_.store(true);
  if (reader_.joinable()) reader_.join();
  if (rb_) ProcessPending(true);  // what still waits goes out as it is
  // Closing a pinned link's fd detaches nothing: unpinned first unless the
  // policies are to keep enforcing.
  if (opts_.pins && !KeepsEnforcing()) opts_.pins->RemoveAll();
  absl::MutexLock l(&mu_);
  std::vector<BpfLink> links;
  for (auto& [key, h] : hooks_) {
    if (h->link) links.push_back(std::move(h->link));
  }
  const absl::Time start = absl::Now();
  CloseInParallel(std::move(links));
  const size_t n_hooks = hooks_.size();
  hooks_.clear();
  entries_.clear();
  VLOG(1) << n_hooks << " hooks closed in " << absl::FormatDuration(absl::Now() - start);
}

int DispatchBackend::MapFd(const std::string& name) const {
  bpf_map* m = bpf_object__find_map_by_name(shared_->obj, name.c_str());
  return m ? bpf_map__fd(m) : -1;
}

// ---------------------------------------------------------------- entries

absl::Status DispatchBackend::WriteValues(const Entry& e, bool insert) {
  const CompiledHook& c = e.compiled;
  uint8_t one = 1;
  auto apply = [&](int fd, const void* key, const char* what) -> absl::Status {
    if (insert) {
      if (bpf_map_update_elem(fd, key, &one, BPF_ANY) != 0) {
        return ErrnoStatus(errno, absl::StrCat("adding a value to ", what));
      }
    } else {
      bpf_map_delete_elem(fd, key);
    }
    return absl::OkStatus();
  };
  for (const auto& k : c.ints) TGD_RETURN_IF_ERROR(apply(e.maps.ints, &k, "tgd_int_values"));
  for (const auto& k : c.strs) TGD_RETURN_IF_ERROR(apply(e.maps.strs, &k, "tgd_str_values"));
  for (const auto& k : c.prefixes) TGD_RETURN_IF_ERROR(apply(e.maps.prefixes, &k, "tgd_str_prefix"));
  for (const auto& k : c.postfixes) TGD_RETURN_IF_ERROR(apply(e.maps.postfixes, &k, "tgd_str_postfix"));
  return absl::OkStatus();
}

DispatchBackend::ValueMaps DispatchBackend::SharedMaps() const {
  ValueMaps m;
  m.cfgs = bpf_map__fd(shared_->maps.tgd_policy_cfgs);
  m.ints = bpf_map__fd(shared_->maps.tgd_int_values);
  m.strs = bpf_map__fd(shared_->maps.tgd_str_values);
  m.prefixes = bpf_map__fd(shared_->maps.tgd_str_prefix);
  m.postfixes = bpf_map__fd(shared_->maps.tgd_str_postfix);
  return m;
}

absl::StatusOr<std::unique_ptr<LoadedPolicy>> DispatchBackend::LoadInState(const PolicyDocument& doc,
                                                                           uint32_t filter_id, PolicyMode mode,
                                                                           bool enabled) {
  std::shared_ptr<const policy::TracingPolicy> model = doc.model;
  if (!model) {  // a document built by hand (tests): parse its text
    TGD_ASSIGN_OR_RETURN(policy::TracingPolicy parsed, policy::ParsePolicy(doc.yaml));
    model = std::make_shared<const policy::TracingPolicy>(std::move(parsed));
  }
  const policy::TracingPolicy& tp = *model;
  TGD_RETURN_IF_ERROR(CheckSpecLoadable(tp, opts_.node_labels ? &*opts_.node_labels : nullptr));
  if (filter_id != 0 && !opts_.filter) {
    return absl::FailedPreconditionError(
        "spec.podSelector: scoped policies need the workload registry, which this daemon was started without");
  }
  if (tp.host_selector && filter_id == 0) {
    return absl::InvalidArgumentError("spec.hostSelector: a host-scoped policy needs a policy filter id");
  }
  if (tp.host_selector && opts_.per_policy) {
    return absl::UnimplementedError("spec.hostSelector: not supported by the per-policy comparison loader");
  }
  // Compile every hook first: nothing touches the kernel for a bad policy.
  std::vector<CompiledHook> compiled;
  std::vector<FileDescriptor> uprobe_targets;  // open until attached
  TGD_ASSIGN_OR_RETURN(std::vector<policy::Hook> hooks, policy::ExpandHookLists(tp, ReadFtraceList));  // list: calls
  for (const policy::Hook& hook : hooks) {
    const bool kprobe_as_uprobe =
        hook.kind == policy::HookKind::kKprobe && !opts_.test_kprobes_as_uprobes_on.empty();
    if (!kprobe_as_uprobe) TGD_RETURN_IF_ERROR(CheckHookSupported(*features_, HookFeatureOf(hook), hook.path));
    TGD_RETURN_IF_ERROR(CheckUsdtSetSupported(*features_, hook));
    // Tests only (DispatchOptions::test_on_tracepoint_stacks): stack traces
    // on tracepoints, compiled as if absent and set on the actions after.
    const bool test_stacks = opts_.test_on_tracepoint_stacks != nullptr &&
                             (hook.kind == policy::HookKind::kTracepoint ||
                              hook.kind == policy::HookKind::kRawTracepoint);
    policy::Hook without_stacks;
    if (test_stacks) {
      without_stacks = hook;
      for (policy::Selector& sel : without_stacks.selectors) {
        for (policy::MatchAction& a : sel.match_actions) a.kernel_stack_trace = a.user_stack_trace = false;
      }
    }
    TGD_ASSIGN_OR_RETURN(CompiledHook c,
                         CompileHook(test_stacks ? without_stacks : hook, opts_.formats, opts_.host_ns));
    if (test_stacks) {
      for (size_t i = 0; i < hook.selectors.size() && i < TGD_MAX_SELECTORS; ++i) {
        const auto& acts = hook.selectors[i].match_actions;
        for (size_t j = 0; j < acts.size() && j < TGD_MAX_ACTIONS; ++j) {
          c.cfg.sel[i].actions[j].flags = (acts[j].kernel_stack_trace ? TGD_ACTF_KSTACK : 0) |
                                          (acts[j].user_stack_trace ? TGD_ACTF_USTACK : 0);
        }
      }
    }
    if (kprobe_as_uprobe) {  // tests only (DispatchOptions)
      c.attach_path = opts_.test_kprobes_as_uprobes_on;
      c.hook_key = absl::StrCat("kprobe-as-uprobe/", c.attach_path, ":", c.call);
    }
    if (c.kind == TGD_HOOK_UPROBE) {  // uprobe_prepare.h: binary, digests, addrs, USDT sites
      std::vector<CompiledHook> sites;
      TGD_ASSIGN_OR_RETURN(std::optional<FileDescriptor> target, PrepareUprobeHook(hook, &c, &sites));
      if (!target) continue;  // a digest mismatch ignored: not attached, as Tetragon
      uprobe_targets.push_back(std::move(*target));
      if (!c.usdt_provider.empty()) {
        for (CompiledHook& site : sites) compiled.push_back(std::move(site));
        continue;
      }
    }
    std::optional<CompiledHook> ret;
    if (c.ret_role == CompiledHook::kRetEntry) {
      if (opts_.per_policy) {
        return absl::UnimplementedError(
            absl::StrCat(hook.path, ".return: return probes are not supported by the per-policy comparison loader"));
      }
      TGD_ASSIGN_OR_RETURN(ret, CompileReturnHook(hook, c, opts_.formats, opts_.host_ns));
      ret->attach_path = c.attach_path;
    }
    compiled.push_back(std::move(c));
    if (ret) compiled.push_back(std::move(*ret));  // right after its entry side
  }
  TGD_ASSIGN_OR_RETURN(std::unique_ptr<SelectorWorkloads> sel_workloads, AddSelectorWorkloads(hooks, filter_id));
  const uint32_t flags = Policy::Flags(enabled, mode);
  std::vector<uint32_t> ids;
  std::vector<std::string> sensors;
  {
    absl::MutexLock l(&mu_);
    if (shutting_down_) return absl::UnavailableError("the daemon is shutting down");
    auto rollback = [&](absl::Status s) -> absl::Status {
      for (uint32_t id : ids) {
        auto it = entries_.find(id);
        if (it == entries_.end()) continue;
        Entry& e = *it->second;
        Hook* h = e.hook;
        DetachEntry(e);
        ForgetEntry(e);
        entries_.erase(it);
        ReleaseHook(h);
      }
      return s;
    };
    uint32_t pair_entry_id = 0;
    Hook* pair_entry_hook = nullptr;
    uint32_t sock_scope = 0;  // the policy's first entry: TrackSock is per policy, not per hook
    for (CompiledHook& c : compiled) {
      const std::string spec_path = c.spec_path;
      // Kernel errors name the policy field they come from.
      auto at_field = [&](const absl::Status& st) {
        return absl::Status(st.code(), absl::StrCat(spec_path, ": ", st.message()));
      };
      const int ret_role = c.ret_role;
      absl::StatusOr<Hook*> h = GetOrCreateHook(c);
      if (!h.ok()) return rollback(at_field(h.status()));
      auto e = std::make_unique<Entry>();
      e->id = next_entry_id_++;
      e->filter_id = filter_id;
      e->hook = *h;
      e->gen = 1;
      e->policy_name = tp.name;
      e->policy_namespace = tp.namespace_;
      e->compiled = std::move(c);
      e->compiled.SetIdentity(e->id, e->gen);
      if (!opts_.per_policy && opts_.run_gates) e->gate = GateOf(e->compiled);  // per-policy: no run list
      absl::Status indexed = absl::OkStatus();
      if (!opts_.per_policy) {
        absl::StatusOr<uint32_t> index = AllocateCfgIndex();
        if (index.ok()) {
          e->cfg_index = *index;
        } else {
          indexed = index.status();
        }
      }
      if (sock_scope == 0) sock_scope = e->id;
      e->compiled.cfg.sock_scope = sock_scope;
      e->maps = SharedMaps();
      if (ret_role == CompiledHook::kRetReturn) {
        // Paired with the entry side compiled just before it.
        e->compiled.cfg.pair_id = pair_entry_id;
        e->pair_hook = pair_entry_hook;
      }
      Entry& ref = *e;
      entries_[e->id] = std::move(e);
      ids.push_back(ref.id);
      (*h)->entries.insert(ref.id);
      IndexEntry(ref, sel_workloads.get());
      sensors.push_back(absl::StrCat("dispatch:", ref.hook->key));
      absl::Status s = opts_.per_policy ? LoadPerPolicyObject(ref) : indexed;
      if (s.ok()) {
        // Zeroed before any run list names the entry: the datapath only adds.
        tgd_policy_counters zero{};
        if (bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_policy_counters), &ref.id, &zero, BPF_NOEXIST) != 0) {
          s = ErrnoStatus(errno, "creating the policy's counters");
        }
      }
      if (s.ok()) s = AddFollowChildren(ref);
      if (s.ok()) s = WriteValues(ref, true);
      if (s.ok()) {  // before a run list names it
        s = gates_->Add(ref.hook->id, ref.gate);
        ref.gate_added = s.ok();
      }
      if (s.ok()) s = EnableTracking(ref.compiled.track_flags);
      if (s.ok()) s = WriteConfig(ref, flags);
      if (s.ok() && filter_id == 0 && !opts_.per_policy) s = SyncRunList(ref.hook, 0, OverMax::kRefuse);
      if (s.ok() && opts_.per_policy) {
        bpf_program* prog = nullptr;
        bpf_object__for_each_program(prog, ref.pp_obj.get()) {
          if (bpf_program__autoload(prog)) break;
        }
        const CompiledHook& ch = ref.compiled;
        bpf_link* link = dispatch_internal::AttachToHook(prog, ch);
        if (!link && errno == E2BIG) {
          s = absl::ResourceExhaustedError(absl::StrCat(
              "attaching the per-policy program to ", ch.hook_key,
              ": the kernel allows no more programs on this hook (64 per tracepoint); the dispatch loader "
              "attaches one program per hook whatever the number of policies"));
        } else if (!link) {
          s = dispatch_internal::AttachError(errno, "attaching the per-policy program to " + ch.hook_key);
        }
        ref.pp_link.reset(link);
      }
      if (!s.ok()) return rollback(at_field(s));
      // Return probes: the return hook pops frames before the entry hook
      // pushes them.
      if (ret_role == CompiledHook::kRetEntry) {
        pair_entry_id = ref.id;
        pair_entry_hook = ref.hook;
      } else if (ret_role == CompiledHook::kRetReturn && pair_entry_hook) {
        ref.hook->ret_returns++;
        ref.hook->ret_pair_hook = pair_entry_hook->id;
        UpdateRetFlags(ref.hook);
        pair_entry_hook->ret_entries++;
        UpdateRetFlags(pair_entry_hook);
        ref.ret_counted = true;
        entries_.at(pair_entry_id)->ret_counted = true;
      }
    }
  }
  if (filter_id != 0) {
    // The filter state notifies OnCgroupsChanged for the cgroups the policy
    // now applies to, which writes their run lists.
    absl::Status s = opts_.filter->AddPolicy(filter_id, tp.namespace_, tp.pod_selector, tp.container_selector,
                                             tp.host_selector);
    if (!s.ok()) {
      RemoveEntries(ids);
      return s;
    }
    absl::MutexLock l(&mu_);
    std::vector<uint64_t> cgroups = opts_.filter->CgroupsOfPolicy(filter_id);
    for (uint32_t id : ids) {
      for (uint64_t cg : cgroups) {
        Entry& e = *entries_.at(id);
        absl::Status st = opts_.per_policy ? SyncPerPolicyCgroup(e, cg) : SyncRunList(e.hook, cg, OverMax::kRefuse);
        if (!st.ok()) {
          st = absl::Status(st.code(), absl::StrCat(e.compiled.spec_path, ": ", st.message()));
          mu_.Unlock();
          RemoveEntries(ids);  // `e` is gone after this
          (void)opts_.filter->DelPolicy(filter_id);
          mu_.Lock();
          return st;
        }
      }
    }
  }
  if (absl::Status s = SyncSelectorLists(ids, sel_workloads.get()); !s.ok()) {
    RemoveEntries(ids);
    if (filter_id != 0) (void)opts_.filter->DelPolicy(filter_id);
    return s;
  }
  if (tp.loader) sensors.push_back("__loader__");  // Tetragon's sensor name
  auto p = std::make_unique<Policy>(this, ids, filter_id, enabled, mode, sensors, std::move(sel_workloads));
  if (tp.loader) {
    std::shared_ptr<LoaderSensor> l;
    if (enabled) {
      TGD_ASSIGN_OR_RETURN(l, AcquireLoaderSensor());  // an error drops `p`, and its entries
    }
    p->SetLoader(std::move(l));
  }
  return p;
}

absl::Status DispatchBackend::EnableTracking(uint32_t track_flags) {
  // Switched on for good: records of processes that ran meanwhile stay
  // valid for later policies, and the trackers' exit cleanup stays on.
  if (track_flags == 0 || (tracking_ & track_flags) == track_flags) return absl::OkStatus();
  uint32_t zero = 0;
  uint32_t next = tracking_ | track_flags;
  if (bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_track_flags), &zero, &next, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "switching on process tracking");
  }
  tracking_ = next;
  return absl::OkStatus();
}

void DispatchBackend::ForgetEntry(Entry& e) {
  uint32_t id = e.id;
  // No new evaluation finds it (the run lists no longer name its index).
  if (e.cfg_index != kNoSlot) {
    uint64_t none = 0;
    bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_cfg_index), &e.cfg_index, &none, BPF_ANY);
  } else {
    bpf_map_delete_elem(e.maps.cfgs, &id);
  }
  RemoveFollowChildren(e);
  if (e.cfg_slot != kNoSlot) cfg_pool_->Retire(e.cfg_slot);
  e.cfg_slot = kNoSlot;
  bool limited = false;
  for (const tgd_selector& sel : e.compiled.cfg.sel) {
    for (const tgd_action& a : sel.actions) limited |= a.rate_limit_ms != 0;
  }
  if (limited) {
    // Now: an evaluation still running can at worst post once more (its
    // event is dropped: the entry is gone) or leave one key the LRU evicts.
    // The LRU map holds every policy's keys: collect this entry's, then delete.
    int rate = bpf_map__fd(shared_->maps.tgd_rate_limits);
    std::vector<tgd_rate_key> mine;
    tgd_rate_key key{}, next{};
    void* prev = nullptr;
    while (bpf_map_get_next_key(rate, prev, &next) == 0) {
      if (next.policy_id == id) mine.push_back(next);
      key = next;
      prev = &key;
    }
    for (const tgd_rate_key& k : mine) bpf_map_delete_elem(rate, &k);
  }
  // Evaluations that started before the delete may still read the values
  // and add to the counters: those go after a grace period (a value set
  // emptied under an evaluation would mix the policy with no policy). A
  // per-policy object's own value maps go with the object.
  std::function<void()> values;
  if (!e.pp_obj) {
    values = [maps = e.maps, ints = e.compiled.ints, strs = e.compiled.strs, prefixes = e.compiled.prefixes,
              postfixes = e.compiled.postfixes] {
      for (const auto& k : ints) bpf_map_delete_elem(maps.ints, &k);
      for (const auto& k : strs) bpf_map_delete_elem(maps.strs, &k);
      for (const auto& k : prefixes) bpf_map_delete_elem(maps.prefixes, &k);
      for (const auto& k : postfixes) bpf_map_delete_elem(maps.postfixes, &k);
    };
  }
  // Its gate values too: an event that read a run list naming it may still
  // look them up.
  // Its config index is reused only after the grace period too.
  RunGate gate;
  if (e.gate_added) gate = e.gate;
  e.gate_added = false;
  const uint32_t index = e.cfg_index;
  e.cfg_index = kNoSlot;
  reclaimer_->Defer([this, id, values = std::move(values), counters = bpf_map__fd(shared_->maps.tgd_policy_counters),
                     hook_id = e.hook->id, gate = std::move(gate), index] {
    if (values) values();
    gates_->Remove(hook_id, gate);
    if (index != kNoSlot) FreeCfgIndex(index);
    bpf_map_delete_elem(counters, &id);
  });
}

void DispatchBackend::WaitReclaimed() {
  if (reclaimer_) reclaimer_->Drain();
}

uint64_t DispatchBackend::ReclaimGracePeriods() const { return reclaimer_ ? reclaimer_->grace_periods() : 0; }

void DispatchBackend::UpdateRetFlags(Hook* h) {
  uint32_t f = h->flags & ~(TGD_HOOKF_RET_ENTRY | TGD_HOOKF_RET_RETURN | (0xffffu << TGD_HOOKF_PAIR_SHIFT));
  if (h->ret_entries > 0) f |= TGD_HOOKF_RET_ENTRY;
  if (h->ret_returns > 0) f |= TGD_HOOKF_RET_RETURN | (h->ret_pair_hook << TGD_HOOKF_PAIR_SHIFT);
  if (f == h->flags) return;
  h->flags = f;
  bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_hook_flags), &h->id, &f, BPF_ANY);
}

void DispatchBackend::DetachEntry(Entry& e) {
  Hook* h = e.hook;
  if (e.ret_counted) {  // the entry hook stops pushing before the return hook stops popping
    e.ret_counted = false;
    if (e.compiled.ret_role == CompiledHook::kRetEntry && h->ret_entries > 0) h->ret_entries--;
    if (e.compiled.ret_role == CompiledHook::kRetReturn && h->ret_returns > 0) h->ret_returns--;
    UpdateRetFlags(h);
  }
  h->entries.erase(e.id);
  UnindexEntry(e);
  const std::set<uint64_t> lists = e.lists;  // SyncRunList edits e.lists
  for (uint64_t cg : lists) {
    absl::Status s = SyncRunList(h, cg, OverMax::kTruncate);
    if (!s.ok()) LOG(ERROR) << "run list of " << h->key << " for cgroup " << cg << ": " << s;
  }
}

bool DispatchBackend::ShuttingDown() const {
  absl::MutexLock l(&mu_);
  return shutting_down_;
}

void DispatchBackend::BeginShutdown() {
  absl::MutexLock l(&mu_);
  shutting_down_ = true;
  if (KeepsEnforcing()) {
    // Nothing detaches: closing the fds of pinned links leaves them attached,
    // with their programs and maps, until the next run retires them.
    LOG(INFO) << "shutting down: " << hooks_.size() << " dispatchers and " << entries_.size()
              << " policy hooks left enforcing (pinned in " << opts_.pins->dir() << ")";
    return;
  }
  if (opts_.pins) opts_.pins->RemoveAll();
  // Closing the links detaches the programs: no event runs a policy after
  // this. The maps and programs go with the backend. Each detach waits for
  // the kernel's grace period (tracepoints: RCU tasks trace on 6.13+, tens
  // of ms): closed from several threads at once, the waits overlap.
  const absl::Time start = absl::Now();
  std::vector<BpfLink> links;
  for (auto& [key, h] : hooks_) {
    if (h->link) links.push_back(std::move(h->link));
  }
  for (auto& [id, e] : entries_) {
    if (e->pp_link) links.push_back(std::move(e->pp_link));
  }
  const size_t n_links = links.size();
  CloseInParallel(std::move(links));
  LOG(INFO) << "shutting down: " << hooks_.size() << " dispatchers and " << entries_.size()
            << " policy hooks, " << n_links << " links detached in " << absl::FormatDuration(absl::Now() - start);
}

void DispatchBackend::CloseInParallel(std::vector<BpfLink> links) {
  constexpr size_t kThreads = 32;
  if (links.size() <= 1) return;  // destroyed on return
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(kThreads, links.size()); ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < links.size(); i = next++) links[i].reset();
    });
  }
  for (auto& t : threads) t.join();
}

void DispatchBackend::RemoveEntries(const std::vector<uint32_t>& ids) {
  absl::MutexLock l(&mu_);
  if (shutting_down_) {
    // Everything is detached and the maps go with the backend: no run list,
    // config or value update (each would wait for RCU), only our state.
    for (uint32_t id : ids) {
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      it->second->hook->entries.erase(id);
      entries_.erase(it);
    }
    return;
  }
  std::set<Hook*> touched;
  // Out of every run list first, so no event reaches them; then their
  // config and values go.
  for (uint32_t id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    touched.insert(it->second->hook);
    DetachEntry(*it->second);
  }
  for (uint32_t id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    Entry& e = *it->second;
    e.pp_link.reset();  // per-policy: detach first
    ForgetEntry(e);
    entries_.erase(it);
  }
  for (Hook* h : touched) ReleaseHook(h);
}

}  // namespace tgd
