// Stack trace symbolization for kernelStackTrace / userStackTrace: kernel
// addresses through /proc/kallsyms, user addresses through the process's
// mappings (/proc/PID/maps) and the ELF symbols of the mapped file (libelf),
// with Tetragon's rendering rules (pkg/ksyms, pkg/procsyms):
// - kernel frame: symbol = the nearest kallsyms symbol at or below the
//   address, offset = address - symbol; skipped when that symbol is not a
//   function (t, T, w, W);
// - user frame: module = the mapping's path, offset = the address's offset in
//   that file, symbol = the ELF function (.symtab or .dynsym) covering that
//   file offset, empty when none does; skipped when no mapping covers it.
// Parsed ELF symbol tables are kept in a bounded LRU cache keyed by the
// file's device, inode, size and mtime.
#ifndef TGDISPATCH_SENSOR_STACKS_SYMBOLIZER_H_
#define TGDISPATCH_SENSOR_STACKS_SYMBOLIZER_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tgd {

// One frame, as tetragon.StackTraceEntry.
struct StackFrame {
  uint64_t address = 0;  // rendered only with expose_addresses (Tetragon's --expose-stack-addresses)
  uint64_t offset = 0;
  std::string symbol;
  std::string module;    // user frames only
};

// /proc/kallsyms, sorted by address.
class KernelSymbols {
 public:
  // Errors: NOT_FOUND (unreadable), FAILED_PRECONDITION (addresses hidden:
  // every function at 0, kptr_restrict).
  static absl::StatusOr<KernelSymbols> Load(const std::string& path = "/proc/kallsyms");
  std::optional<StackFrame> Lookup(uint64_t addr) const;
  size_t size() const { return syms_.size(); }

 private:
  struct Sym {
    uint64_t addr;
    bool function;
    std::string name;
  };
  std::vector<Sym> syms_;
};

// The function symbols of one ELF file, by file offset.
class ElfSymbols {
 public:
  // Reads .symtab and .dynsym of the open ELF file `fd` (not closed).
  // Errors: INVALID_ARGUMENT (not ELF).
  static absl::StatusOr<ElfSymbols> Read(int fd);
  // The function covering file offset `off`, or empty.
  std::string At(uint64_t off) const;
  size_t size() const { return syms_.size(); }

 private:
  struct Sym {
    uint64_t start, end;  // file offsets
    std::string name;
  };
  std::vector<Sym> syms_;  // sorted by start
};

struct SymbolizerOptions {
  std::string proc = "/proc";
  std::string kallsyms = "/proc/kallsyms";
  size_t max_modules = 32;      // ELF symbol tables kept (LRU)
  bool expose_addresses = false;
  // A failed or missing kallsyms is read again at most this often.
  absl::Duration kallsyms_retry = absl::Seconds(60);
};

class Symbolizer {
 public:
  explicit Symbolizer(SymbolizerOptions options = {}) : opts_(std::move(options)) {}

  // Frames of kernel addresses (zeros skipped).
  std::vector<StackFrame> Kernel(const uint64_t* ips, size_t n);
  // Frames of user addresses of task `pid` (a tid works too), read from its
  // mappings now: a process that has exited yields no frames.
  std::vector<StackFrame> User(uint32_t pid, const uint64_t* ips, size_t n);

  size_t cached_modules() const;

 private:
  struct Mapping {
    uint64_t start, end, offset;
    std::string path;
  };
  using ModuleKey = std::tuple<uint64_t, uint64_t, int64_t, int64_t>;  // dev, ino, size, mtime ns
  const ElfSymbols* Module(uint32_t pid, const Mapping& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SymbolizerOptions opts_;
  mutable absl::Mutex mu_;
  std::optional<KernelSymbols> ksyms_ ABSL_GUARDED_BY(mu_);
  absl::Time ksyms_tried_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::list<std::pair<ModuleKey, std::unique_ptr<ElfSymbols>>> lru_ ABSL_GUARDED_BY(mu_);
  std::map<ModuleKey, decltype(lru_)::iterator> modules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_STACKS_SYMBOLIZER_H_
