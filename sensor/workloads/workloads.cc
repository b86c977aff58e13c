// Workloads file parsing and loading, and the RuntimeHook handler.
#include "sensor/workloads/workloads.h"

#include <glog/logging.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/policyfilter/cgroup_tracker.h"

namespace tgd {
namespace {

absl::Status FieldError(absl::string_view source, const std::string& field, const YAML::Node& n,
                        absl::string_view reason) {
  std::string where = std::string(source);
  if (n.IsDefined() && n.Mark().line >= 0) absl::StrAppend(&where, ":", n.Mark().line + 1);
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, ": ", reason));
}

absl::Status CheckKeys(absl::string_view source, const std::string& field, const YAML::Node& n,
                       const std::set<std::string>& known) {
  for (const auto& kv : n) {
    std::string key = kv.first.Scalar();
    if (!known.count(key)) {
      return FieldError(source, field.empty() ? key : field + "." + key, kv.first,
                        "unknown field");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Str(absl::string_view source, const std::string& field,
                                const YAML::Node& parent, const char* key, bool required) {
  YAML::Node n = parent[key];
  std::string f = absl::StrCat(field, ".", key);
  if (!n.IsDefined() || n.IsNull()) {
    if (required) return FieldError(source, f, parent, "required");
    return std::string();
  }
  if (!n.IsScalar()) return FieldError(source, f, n, "must be a string");
  if (required && n.Scalar().empty()) return FieldError(source, f, n, "must not be empty");
  return n.Scalar();
}

uint64_t Fnv1a(absl::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

absl::StatusOr<std::vector<WorkloadPod>> ParseNodes(const YAML::Node& root,
                                                    absl::string_view source) {
  std::vector<WorkloadPod> pods;
  if (!root.IsDefined() || root.IsNull()) return pods;
  if (!root.IsMap()) return FieldError(source, "(top level)", root, "must be a mapping with pods");
  TGD_RETURN_IF_ERROR(CheckKeys(source, "", root, {"pods"}));
  YAML::Node list = root["pods"];
  if (!list.IsDefined() || list.IsNull()) return pods;
  if (!list.IsSequence()) return FieldError(source, "pods", list, "must be a list");
  std::set<std::string> uids, names;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& p = list[i];
    std::string f = absl::StrCat("pods[", i, "]");
    if (!p.IsMap()) return FieldError(source, f, p, "must be a mapping");
    TGD_RETURN_IF_ERROR(
        CheckKeys(source, f, p, {"namespace", "name", "uid", "labels", "containers"}));
    WorkloadPod pod;
    TGD_ASSIGN_OR_RETURN(std::string ns, Str(source, f, p, "namespace", false));
    if (!ns.empty()) pod.ns = ns;
    TGD_ASSIGN_OR_RETURN(pod.name, Str(source, f, p, "name", true));
    TGD_ASSIGN_OR_RETURN(pod.uid, Str(source, f, p, "uid", false));
    if (pod.uid.empty()) pod.uid = DerivedPodUid(pod.ns, pod.name);
    if (!names.insert(pod.ns + "/" + pod.name).second) {
      return FieldError(source, f + ".name", p["name"],
                        absl::StrCat("pod ", pod.ns, "/", pod.name, " listed twice"));
    }
    if (!uids.insert(pod.uid).second) {
      return FieldError(source, f + ".uid", p, absl::StrCat("uid ", pod.uid, " used twice"));
    }
    YAML::Node l = p["labels"];
    if (l.IsDefined() && !l.IsNull()) {
      if (!l.IsMap()) return FieldError(source, f + ".labels", l, "must be a mapping");
      for (const auto& kv : l) {
        if (!kv.second.IsScalar()) {
          return FieldError(source, absl::StrCat(f, ".labels.", kv.first.Scalar()), kv.second,
                            "must be a string");
        }
        pod.labels[kv.first.Scalar()] = kv.second.Scalar();
      }
    }
    YAML::Node cs = p["containers"];
    if (cs.IsDefined() && !cs.IsNull()) {
      if (!cs.IsSequence()) return FieldError(source, f + ".containers", cs, "must be a list");
      std::set<std::string> ids;
      for (size_t j = 0; j < cs.size(); ++j) {
        const YAML::Node& c = cs[j];
        std::string cf = absl::StrCat(f, ".containers[", j, "]");
        if (!c.IsMap()) return FieldError(source, cf, c, "must be a mapping");
        TGD_RETURN_IF_ERROR(
            CheckKeys(source, cf, c, {"name", "id", "image", "cgroupPath", "create"}));
        WorkloadContainer w;
        TGD_ASSIGN_OR_RETURN(w.name, Str(source, cf, c, "name", true));
        TGD_ASSIGN_OR_RETURN(w.id, Str(source, cf, c, "id", false));
        if (w.id.empty()) w.id = absl::StrCat(pod.ns, "-", pod.name, "-", w.name);
        TGD_ASSIGN_OR_RETURN(w.image, Str(source, cf, c, "image", false));
        TGD_ASSIGN_OR_RETURN(w.cgroup_path, Str(source, cf, c, "cgroupPath", true));
        YAML::Node cr = c["create"];
        if (cr.IsDefined() && !cr.IsNull()) {
          if (!cr.IsScalar() || (cr.Scalar() != "true" && cr.Scalar() != "false")) {
            return FieldError(source, cf + ".create", cr, "must be true or false");
          }
          w.create = cr.Scalar() == "true";
        }
        if (!ids.insert(w.id).second) {
          return FieldError(source, cf + ".id", c, absl::StrCat("container id ", w.id, " used twice"));
        }
        pod.containers.push_back(std::move(w));
      }
    }
    pods.push_back(std::move(pod));
  }
  return pods;
}

// systemd cgroup driver form "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>"
// -> kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope
std::string ExpandSystemdCgroupsPath(const std::string& p) {
  std::vector<std::string> parts = absl::StrSplit(p, ':');
  if (parts.size() != 3 || absl::StrContains(p, '/')) return p;
  std::string slice = parts[0];
  std::string dir;
  absl::string_view stem = slice;
  if (absl::ConsumeSuffix(&stem, ".slice")) {
    std::string acc;
    for (absl::string_view piece : absl::StrSplit(stem, '-')) {
      acc = acc.empty() ? std::string(piece) : absl::StrCat(acc, "-", piece);
      absl::StrAppend(&dir, "/", acc, ".slice");
    }
  } else {
    dir = "/" + slice;
  }
  return absl::StrCat(dir, "/", parts[1], "-", parts[2], ".scope");
}

// Tetragon derives these from the cgroup path when the request lacks them.
std::string PodUidFromCgroupPath(const std::string& p) {
  std::filesystem::path path(p);
  std::string name = path.parent_path().filename().string();
  absl::string_view s = name;
  absl::ConsumeSuffix(&s, ".slice");
  constexpr size_t kUidLen = 36;
  if (s.size() > kUidLen) s = s.substr(s.size() - kUidLen);
  return std::string(s);
}

std::string ContainerIdFromCgroupPath(const std::string& p) {
  std::string name = std::filesystem::path(p).filename().string();
  absl::string_view s = name;
  if (size_t dash = s.rfind('-'); dash != absl::string_view::npos) s = s.substr(dash + 1);
  absl::ConsumeSuffix(&s, ".scope");
  return std::string(s);
}

}  // namespace

absl::StatusOr<std::vector<WorkloadPod>> ParseWorkloads(absl::string_view yaml,
                                                        absl::string_view source) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    return ParseNodes(root, source);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
}

std::string DerivedPodUid(absl::string_view ns, absl::string_view name) {
  std::string key = absl::StrCat(ns, "/", name);
  uint64_t a = Fnv1a(key, 0x7467), b = Fnv1a(key, 0x6469737061746368ULL);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                         b >> 48, b & 0xffffffffffffULL);
}

std::string ImageRepo(absl::string_view image) {
  std::vector<std::string> parts = absl::StrSplit(image, ':');
  return parts.size() == 2 ? parts[0] : std::string(image);
}

absl::StatusOr<std::string> ResolveCgroupPath(const std::string& root, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("cgroup path: empty");
  std::filesystem::path r = std::filesystem::path(root).lexically_normal();
  std::string rs = r.string();
  while (rs.size() > 1 && rs.back() == '/') rs.pop_back();
  std::filesystem::path p;
  if (path == rs || absl::StartsWith(path, rs + "/")) {
    p = path;
  } else {
    p = std::filesystem::path(rs) / std::string(absl::StripLeadingAsciiWhitespace(
                                        absl::string_view(path).substr(path[0] == '/' ? 1 : 0)));
  }
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out != rs && !absl::StartsWith(out, rs + "/")) {
    return absl::InvalidArgumentError(absl::StrCat("cgroup path \"", path,
                                                   "\" resolves outside the cgroup v2 mount ", rs));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<WorkloadSource>> WorkloadSource::Create(
    PolicyFilterState* state, const WorkloadSourceOptions& o) {
  std::unique_ptr<WorkloadSource> w(new WorkloadSource(state, o));
  if (o.cgroup_root.empty()) {
    TGD_ASSIGN_OR_RETURN(w->cgroup_root_, FindCgroup2Mount());
  } else {
    w->cgroup_root_ = o.cgroup_root;
  }
  TGD_RETURN_IF_ERROR(w->Reload());
  return w;
}

WorkloadSource::~WorkloadSource() {
  {
    absl::MutexLock l(&stop_mu_);
    stop_ = true;
  }
  if (poller_.joinable()) poller_.join();
  absl::MutexLock l(&mu_);
  for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) {
    if (rmdir(it->c_str()) != 0) {
      LOG(INFO) << "workloads: leaving cgroup " << *it << " (" << strerror(errno) << ")";
    }
  }
}

void WorkloadSource::Warn(std::string w) {
  LOG(WARNING) << "workloads: " << w;
  ++warnings_;
  last_warnings_.push_back(std::move(w));
}

int WorkloadSource::warning_count() const {
  absl::MutexLock l(&mu_);
  return warnings_;
}

std::vector<std::string> WorkloadSource::last_warnings() const {
  absl::MutexLock l(&mu_);
  return last_warnings_;
}

absl::Status WorkloadSource::MkdirTracked(const std::string& dir) {
  std::vector<std::string> missing;
  for (std::filesystem::path p = dir; p.string().size() > cgroup_root_.size();
       p = p.parent_path()) {
    if (std::filesystem::exists(p)) break;
    missing.push_back(p.string());
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + *it);
    }
    created_dirs_.push_back(*it);
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<std::vector<WorkloadPod>> ReadWorkloads(const std::string& path, struct stat* st) {
  if (stat(path.c_str(), st) != 0) return ErrnoStatus(errno, "workloads file " + path);
  std::ifstream in(path);
  if (!in) return ErrnoStatus(errno, "read workloads file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseWorkloads(ss.str(), path);
}

}  // namespace

absl::StatusOr<std::vector<WorkloadPod>> ReadWorkloadsFile(const std::string& path) {
  struct stat st{};
  return ReadWorkloads(path, &st);
}

absl::Status WorkloadSource::Reload() {
  const std::string source = opts_.path.empty() ? "<embedded demo.yaml>" : opts_.path;
  struct stat st{};
  std::vector<WorkloadPod> pods;
  if (opts_.path.empty()) {
    TGD_ASSIGN_OR_RETURN(pods, ParseWorkloads(kDemoWorkloadsYaml, source));
  } else {
    TGD_ASSIGN_OR_RETURN(pods, ReadWorkloads(opts_.path, &st));
  }
  absl::MutexLock l(&mu_);
  mtime_ = st.st_mtim;
  size_ = st.st_size;
  last_warnings_.clear();
  std::map<std::string, WorkloadPod> next;
  absl::Status first_error;
  for (size_t i = 0; i < pods.size(); ++i) {
    WorkloadPod& pod = pods[i];
    std::vector<ContainerInfo> infos;
    for (size_t j = 0; j < pod.containers.size(); ++j) {
      const WorkloadContainer& c = pod.containers[j];
      std::string field = absl::StrCat(source, ": pods[", i, "].containers[", j, "].cgroupPath");
      auto dir = ResolveCgroupPath(cgroup_root_, c.cgroup_path);
      if (!dir.ok()) {
        Warn(absl::StrCat(field, ": ", dir.status().message(), "; container skipped"));
        continue;
      }
      if (c.create) {
        if (absl::Status s = MkdirTracked(*dir); !s.ok()) {
          Warn(absl::StrCat(field, ": ", s.message(), "; container skipped"));
          continue;
        }
      }
      auto id = CgroupIdOfPath(*dir);
      if (!id.ok()) {
        Warn(absl::StrCat(field, ": no cgroup at ", *dir, " (", id.status().message(),
                          "); container skipped"));
        continue;
      }
      infos.push_back(ContainerInfo{c.id, c.name, ImageRepo(c.image), *id, *dir, c.image});
    }
    if (auto hook = hook_pods_.find(pod.uid); hook != hook_pods_.end()) {
      // The pod's RuntimeHook containers stay (a file entry with the same id wins).
      std::set<std::string> ids;
      for (const WorkloadContainer& c : pod.containers) ids.insert(c.id);
      for (const ContainerInfo& c : hook->second.containers) {
        if (!ids.count(c.id)) infos.push_back(c);
      }
    }
    if (pod.containers.empty()) {
      Warn(absl::StrCat(source, ": pods[", i, "] (", pod.ns, "/", pod.name,
                        "): no containers; the pod selects no cgroup"));
    }
    absl::Status s = state_->UpdatePod(PodInfo{pod.uid, pod.name, pod.ns, pod.labels}, infos);
    if (!s.ok()) {
      Warn(absl::StrCat(source, ": pods[", i, "] (", pod.ns, "/", pod.name, "): ", s.message()));
      if (first_error.ok()) first_error = s;
      auto old = file_pods_.find(pod.uid);
      if (old != file_pods_.end()) next.insert(*old);  // still registered as before
      continue;
    }
    next[pod.uid] = std::move(pod);
  }
  for (const auto& [uid, pod] : file_pods_) {
    if (next.count(uid) || hook_pods_.count(uid)) continue;  // hook pods: SyncHookPods
    if (absl::Status s = state_->DelPod(uid); !s.ok()) {
      Warn(absl::StrCat("removing pod ", pod.ns, "/", pod.name, ": ", s.message()));
      next[uid] = pod;
    }
  }
  std::set<std::string> gone_file_pods;
  for (const auto& [uid, pod] : file_pods_) {
    if (!next.count(uid)) gone_file_pods.insert(uid);
  }
  file_pods_ = std::move(next);
  SyncHookPods(source, gone_file_pods, &first_error);
  LOG(INFO) << "workloads: loaded " << file_pods_.size() << " pods from " << source;
  return first_error;
}

const WorkloadPod* WorkloadSource::FilePodOf(const PodInfo& hook_pod) const {
  if (auto it = file_pods_.find(hook_pod.uid); it != file_pods_.end()) return &it->second;
  if (hook_pod.name.empty()) return nullptr;
  for (const auto& [uid, p] : file_pods_) {
    if (p.name == hook_pod.name && p.ns == hook_pod.ns) return &p;
  }
  return nullptr;
}

void WorkloadSource::SyncHookPods(absl::string_view source, const std::set<std::string>& gone_file_pods,
                                  absl::Status* first_error) {
  for (auto& [uid, hook] : hook_pods_) {
    const WorkloadPod* file = FilePodOf(hook.info);
    labels::Labels want = file ? file->labels : labels::Labels();
    if (file != nullptr && file->uid == uid) {
      hook.info.labels = std::move(want);  // Reload's UpdatePod set them
      continue;
    }
    // Matched by namespace/name (another uid), or no longer in the file.
    if (want == hook.info.labels && !gone_file_pods.count(uid)) continue;
    PodInfo info = hook.info;
    info.labels = want;
    if (absl::Status s = state_->UpdatePod(info, hook.containers); !s.ok()) {
      Warn(absl::StrCat(source, ": RuntimeHook pod ", info.ns, "/", info.name, " (", uid, "): ", s.message()));
      if (first_error->ok()) *first_error = s;
      continue;
    }
    hook.info.labels = std::move(want);
  }
}

absl::Status WorkloadSource::PollOnce() {
  bool changed = false;
  if (!opts_.path.empty()) {
    struct stat st{};
    absl::MutexLock l(&mu_);
    if (stat(opts_.path.c_str(), &st) == 0) {
      changed = st.st_size != size_ || st.st_mtim.tv_sec != mtime_.tv_sec ||
                st.st_mtim.tv_nsec != mtime_.tv_nsec;
    }
  }
  absl::Status result;
  if (changed) result = Reload();
  std::vector<std::pair<std::string, std::string>> gone;  // (pod uid, container id)
  {
    absl::MutexLock l(&mu_);
    for (auto pod = hook_pods_.begin(); pod != hook_pods_.end();) {
      std::vector<ContainerInfo>& cs = pod->second.containers;
      for (auto it = cs.begin(); it != cs.end();) {
        if (access(it->cgroup_path.c_str(), F_OK) != 0) {
          gone.emplace_back(pod->first, it->id);
          it = cs.erase(it);
        } else {
          ++it;
        }
      }
      pod = cs.empty() ? hook_pods_.erase(pod) : std::next(pod);
    }
  }
  for (const auto& [uid, id] : gone) {
    absl::Status s = state_->DelPodContainer(uid, id);
    if (!s.ok() && result.ok()) result = s;
  }
  if (CgroupTracker* t = state_->cgroup_tracker(); t && !t->program_attached()) {
    absl::Status s = t->Rescan();
    if (!s.ok() && result.ok()) result = s;
  }
  return result;
}

void WorkloadSource::StartPolling() {
  if (poller_.joinable()) return;
  poller_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock l(&stop_mu_);
        if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), opts_.poll_interval)) return;
      }
      if (absl::Status s = PollOnce(); !s.ok()) LOG(WARNING) << "workloads poll: " << s;
    }
  });
}

absl::Status WorkloadSource::HandleRuntimeHook(const tetragon::RuntimeHookRequest& request) {
  if (!request.has_createcontainer()) {
    return absl::InvalidArgumentError("RuntimeHookRequest: event: createContainer is required");
  }
  const tetragon::CreateContainer& cc = request.createcontainer();
  if (cc.cgroupspath().empty()) {
    return absl::InvalidArgumentError("createContainer.cgroupsPath: empty");
  }
  std::string raw = ExpandSystemdCgroupsPath(cc.cgroupspath());
  auto dir = ResolveCgroupPath(cgroup_root_, raw);
  if (!dir.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("createContainer.cgroupsPath: ", dir.status().message()));
  }
  auto id = CgroupIdOfPath(*dir);
  if (!id.ok()) {
    return absl::NotFoundError(absl::StrCat("createContainer.cgroupsPath: no cgroup at ", *dir,
                                            " (", id.status().message(), ")"));
  }
  PodInfo pod{cc.poduid(), cc.podname(), cc.podnamespace(), {}};
  if (pod.uid.empty()) pod.uid = PodUidFromCgroupPath(*dir);
  ContainerInfo c{cc.containerid(), cc.containername(), ImageRepo(cc.containerimage()), *id, *dir,
                  cc.containerimage()};
  if (c.id.empty()) c.id = ContainerIdFromCgroupPath(*dir);
  if (pod.uid.empty()) return absl::InvalidArgumentError("createContainer.podUID: empty");
  // Held throughout, so a reload cannot slip in between taking the labels
  // and recording the container.
  absl::MutexLock l(&mu_);
  if (const WorkloadPod* known = FilePodOf(pod)) {
    pod.labels = known->labels;
    if (pod.ns.empty()) pod.ns = known->ns;
    if (pod.name.empty()) pod.name = known->name;
  }
  if (pod.ns.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "createContainer.podNamespace: empty and pod ", pod.uid, " is not in the workloads file"));
  }
  if (c.name.empty()) LOG(WARNING) << "RuntimeHook: container " << c.id << " has no name";
  TGD_RETURN_IF_ERROR(state_->AddPodContainer(pod, c));
  HookPod& hook = hook_pods_[pod.uid];
  if (hook.info.uid.empty()) hook.info = pod;
  auto same = std::find_if(hook.containers.begin(), hook.containers.end(),
                           [&](const ContainerInfo& x) { return x.id == c.id; });
  if (same != hook.containers.end()) {
    *same = c;
  } else {
    hook.containers.push_back(c);
  }
  return absl::OkStatus();
}

}  // namespace tgd
