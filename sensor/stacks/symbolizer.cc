// Symbolizer implementation (see symbolizer.h).
#include "sensor/stacks/symbolizer.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace {

bool ParseHex(absl::string_view s, uint64_t* out) { return absl::SimpleHexAtoi(s, out); }

// An ELF file larger than this is not read for symbols.
constexpr off_t kMaxElfBytes = off_t{1} << 30;

}  // namespace

// ---------------------------------------------------------------- kernel

absl::StatusOr<KernelSymbols> KernelSymbols::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, " is not readable"));
  KernelSymbols k;
  std::string line;
  bool all_zero = true;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "... t name\t[module]"
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 3 || f[1].size() != 1) continue;
    uint64_t addr;
    if (!ParseHex(f[0], &addr)) continue;
    const char t = f[1][0];
    const bool fn = t == 't' || t == 'T' || t == 'w' || t == 'W';
    if (fn && addr != 0) all_zero = false;
    k.syms_.push_back({addr, fn, std::string(f[2])});
  }
  if (k.syms_.empty()) return absl::NotFoundError(absl::StrCat(path, " has no symbols"));
  if (all_zero) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " shows every address as 0 (kptr_restrict; the daemon needs CAP_SYSLOG)"));
  }
  std::stable_sort(k.syms_.begin(), k.syms_.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  return k;
}

std::optional<StackFrame> KernelSymbols::Lookup(uint64_t addr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), addr, [](uint64_t a, const Sym& s) { return a < s.addr; });
  if (it == syms_.begin()) return std::nullopt;  // before the first symbol
  --it;
  if (!it->function) return std::nullopt;
  StackFrame f;
  f.symbol = it->name;
  f.offset = addr - it->addr;
  return f;
}

// ---------------------------------------------------------------- ELF

absl::StatusOr<ElfSymbols> ElfSymbols::Read(int fd) {
  if (elf_version(EV_CURRENT) == EV_NONE) return absl::InternalError("libelf: version mismatch");
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
    if (elf) elf_end(elf);
    return absl::InvalidArgumentError("not an ELF file");
  }
  ElfSymbols out;
  size_t nsec = 0;
  elf_getshdrnum(elf, &nsec);
  std::vector<GElf_Shdr> shdrs(nsec);
  for (size_t i = 0; i < nsec; ++i) {
    Elf_Scn* scn = elf_getscn(elf, i);
    if (!scn || !gelf_getshdr(scn, &shdrs[i])) shdrs[i] = {};
  }
  for (size_t i = 0; i < nsec; ++i) {
    if (shdrs[i].sh_type != SHT_SYMTAB && shdrs[i].sh_type != SHT_DYNSYM) continue;
    Elf_Scn* scn = elf_getscn(elf, i);
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || shdrs[i].sh_entsize == 0) continue;
    const size_t n = shdrs[i].sh_size / shdrs[i].sh_entsize;
    for (size_t j = 0; j < n; ++j) {
      GElf_Sym s;
      if (!gelf_getsym(data, static_cast<int>(j), &s)) continue;
      if (GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_size == 0) continue;
      if (s.st_shndx == SHN_UNDEF || s.st_shndx >= nsec) continue;
      const GElf_Shdr& sec = shdrs[s.st_shndx];
      if (s.st_value < sec.sh_addr) continue;
      const char* name = elf_strptr(elf, shdrs[i].sh_link, s.st_name);
      if (!name || !*name) continue;
      const uint64_t start = s.st_value - sec.sh_addr + sec.sh_offset;  // as Tetragon: by its section
      out.syms_.push_back({start, start + s.st_size, name});
    }
  }
  elf_end(elf);
  std::sort(out.syms_.begin(), out.syms_.end(),
            [](const Sym& a, const Sym& b) { return std::tie(a.start, a.end) < std::tie(b.start, b.end); });
  // .symtab and .dynsym often name the same function: keep one.
  out.syms_.erase(std::unique(out.syms_.begin(), out.syms_.end(),
                              [](const Sym& a, const Sym& b) { return a.start == b.start && a.end == b.end; }),
                  out.syms_.end());
  return out;
}

std::string ElfSymbols::At(uint64_t off) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), off, [](uint64_t o, const Sym& s) { return o < s.start; });
  // Symbols may nest or overlap: look back a few for one covering `off`.
  for (int back = 0; back < 8 && it != syms_.begin(); ++back) {
    --it;
    if (off >= it->start && off < it->end) return it->name;
  }
  return "";
}

// ---------------------------------------------------------------- symbolizer

std::vector<StackFrame> Symbolizer::Kernel(const uint64_t* ips, size_t n) {
  std::vector<StackFrame> out;
  absl::MutexLock l(&mu_);
  if (!ksyms_ && absl::Now() - ksyms_tried_ >= opts_.kallsyms_retry) {
    ksyms_tried_ = absl::Now();
    absl::StatusOr<KernelSymbols> k = KernelSymbols::Load(opts_.kallsyms);
    if (k.ok()) ksyms_ = *std::move(k);
  }
  if (!ksyms_) return out;
  for (size_t i = 0; i < n; ++i) {
    if (ips[i] == 0) continue;
    std::optional<StackFrame> f = ksyms_->Lookup(ips[i]);
    if (!f) continue;
    if (opts_.expose_addresses) f->address = ips[i];
    out.push_back(*std::move(f));
  }
  return out;
}

const ElfSymbols* Symbolizer::Module(uint32_t pid, const Mapping& m) {
  // Through map_files the file is the one mapped, whatever mount namespace
  // the process is in or whether its path was replaced since; else the path.
  FileDescriptor fd(open(absl::StrCat(opts_.proc, "/", pid, "/map_files/", absl::Hex(m.start), "-", absl::Hex(m.end))
                             .c_str(),
                         O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) fd = FileDescriptor(open(m.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return nullptr;
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxElfBytes) return nullptr;
  ModuleKey key{st.st_dev, st.st_ino, st.st_size,
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (auto it = modules_.find(key); it != modules_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second.get();
  }
  absl::StatusOr<ElfSymbols> syms = ElfSymbols::Read(fd.get());
  auto owned = std::make_unique<ElfSymbols>(syms.ok() ? *std::move(syms) : ElfSymbols());
  lru_.emplace_front(key, std::move(owned));
  modules_[key] = lru_.begin();
  while (lru_.size() > std::max<size_t>(opts_.max_modules, 1)) {
    modules_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return lru_.front().second.get();
}

std::vector<StackFrame> Symbolizer::User(uint32_t pid, const uint64_t* ips, size_t n) {
  std::vector<StackFrame> out;
  std::ifstream in(absl::StrCat(opts_.proc, "/", pid, "/maps"));
  if (!in) return out;
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(in, line)) {
    // start-end perms offset dev inode   path
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 5) continue;
    std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(f[0], absl::MaxSplits('-', 1));
    Mapping m;
    if (!ParseHex(range.first, &m.start) || !ParseHex(range.second, &m.end) || !ParseHex(f[2], &m.offset)) continue;
    if (f.size() >= 6) {
      // The path may hold spaces: everything from the sixth field on.
      m.path = line.substr(static_cast<size_t>(f[5].data() - line.data()));
    }
    maps.push_back(std::move(m));
  }
  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t addr = ips[i];
    if (addr == 0) continue;
    auto it = std::upper_bound(maps.begin(), maps.end(), addr, [](uint64_t a, const Mapping& m) { return a < m.start; });
    if (it == maps.begin()) continue;
    --it;
    if (addr >= it->end) continue;
    StackFrame f;
    f.module = it->path;
    f.offset = addr - it->start + it->offset;
    if (opts_.expose_addresses) f.address = addr;
    if (!it->path.empty() && it->path[0] == '/') {
      if (const ElfSymbols* syms = Module(pid, *it)) f.symbol = syms->At(f.offset);
    }
    out.push_back(std::move(f));
  }
  return out;
}

size_t Symbolizer::cached_modules() const {
  absl::MutexLock l(&mu_);
  return lru_.size();
}

}  // namespace tgd
