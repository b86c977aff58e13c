// ELF reading for uprobe addresses and USDT notes (see elf_file.h), with
// libelf.
#include "sensor/loader/elf_file.h"

#include <gelf.h>
#include <libelf.h>
#include <sys/user.h>

#include <cstring>
#include <cstddef>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bpf/dispatch/dispatch_abi.h"

namespace tgd {
namespace {

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

absl::StatusOr<ElfPtr> OpenElf(int fd, const std::string& field) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Bad(field, "libelf is not usable");
  ElfPtr e(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
  if (!e || elf_kind(e.get()) != ELF_K_ELF) return Bad(field, "not an ELF file");
  return e;
}

// The file offset of `addr` through the PT_LOAD headers; false if none holds it.
bool OffsetOf(Elf* e, uint64_t addr, uint64_t* off) {
  size_t n = 0;
  if (elf_getphdrnum(e, &n) != 0) return false;
  for (size_t i = 0; i < n; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(e, static_cast<int>(i), &ph) || ph.p_type != PT_LOAD) continue;
    if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_memsz) {
      *off = addr - ph.p_vaddr + ph.p_offset;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<uint64_t> ElfFileOffsetOfAddr(int fd, uint64_t addr, const std::string& field) {
  absl::StatusOr<ElfPtr> e = OpenElf(fd, field);
  if (!e.ok()) return e.status();
  uint64_t off = 0;
  if (!OffsetOf(e->get(), addr, &off)) {
    return Bad(field, absl::StrCat("address 0x", absl::Hex(addr), " is in no loadable segment of the file"));
  }
  return off;
}

absl::StatusOr<std::vector<UsdtSite>> ReadUsdtSites(int fd, const std::string& field) {
  absl::StatusOr<ElfPtr> ep = OpenElf(fd, field);
  if (!ep.ok()) return ep.status();
  Elf* e = ep->get();
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(e, &shstrndx) != 0) return Bad(field, "no section name table");
  const bool is64 = gelf_getclass(e) == ELFCLASS64;
  // .stapsdt.base: where the notes' base address was at link time.
  uint64_t base_addr = 0;
  bool has_base = false;
  std::vector<Elf_Scn*> notes;
  for (Elf_Scn* scn = elf_nextscn(e, nullptr); scn; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(e, shstrndx, sh.sh_name);
    if (!name) continue;
    if (strcmp(name, ".stapsdt.base") == 0) {
      base_addr = sh.sh_addr;
      has_base = true;
    } else if (sh.sh_type == SHT_NOTE && strcmp(name, ".note.stapsdt") == 0) {
      notes.push_back(scn);
    }
  }
  std::vector<UsdtSite> out;
  for (Elf_Scn* scn : notes) {
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || !data->d_buf) continue;
    size_t pos = 0;
    GElf_Nhdr nh;
    size_t name_off = 0, desc_off = 0;
    while ((pos = gelf_getnote(data, pos, &nh, &name_off, &desc_off)) > 0) {
      const char* buf = static_cast<const char*>(data->d_buf);
      if (nh.n_type != 3 || nh.n_namesz != sizeof("stapsdt") || strcmp(buf + name_off, "stapsdt") != 0) continue;
      const size_t word = is64 ? 8 : 4;
      if (nh.n_descsz < 3 * word + 3) return Bad(field, "a .note.stapsdt note is too short");
      const char* d = buf + desc_off;
      auto read_word = [&](int i) {
        uint64_t v = 0;
        if (is64) {
          memcpy(&v, d + i * word, 8);
        } else {
          uint32_t v32;
          memcpy(&v32, d + i * word, 4);
          v = v32;
        }
        return v;
      };
      uint64_t pc = read_word(0), base = read_word(1), sem = read_word(2);
      const char* strs = d + 3 * word;
      const char* end = d + nh.n_descsz;
      UsdtSite site;
      const char* p = strs;
      for (std::string* s : {&site.provider, &site.name, &site.args}) {
        const void* z = memchr(p, '\0', end - p);
        if (!z) return Bad(field, "a .note.stapsdt note has an unterminated string");
        s->assign(p, static_cast<const char*>(z) - p);
        p = static_cast<const char*>(z) + 1;
        if (p > end) break;
      }
      if (has_base && base != 0) {
        pc += base_addr - base;
        if (sem) sem += base_addr - base;
      }
      if (!OffsetOf(e, pc, &site.offset)) {
        return Bad(field, absl::StrCat("USDT ", site.provider, ":", site.name, " is at 0x", absl::Hex(pc),
                                       ", in no loadable segment"));
      }
      // The semaphore is in .probes (data): its file offset the same way.
      if (sem && !OffsetOf(e, sem, &site.semaphore_offset)) {
        return Bad(field, absl::StrCat("the semaphore of USDT ", site.provider, ":", site.name,
                                       " is in no loadable segment"));
      }
      out.push_back(std::move(site));
    }
  }
  return out;
}

#if defined(__x86_64__)
namespace {

// The pt_regs byte offset of an x86-64 register name (any width), -1 if unknown.
int RegOffset(absl::string_view r) {
  struct Reg {
    const char* names[4];
    size_t off;
  };
  static const Reg kRegs[] = {
      {{"rax", "eax", "ax", "al"}, offsetof(user_regs_struct, rax)},
      {{"rbx", "ebx", "bx", "bl"}, offsetof(user_regs_struct, rbx)},
      {{"rcx", "ecx", "cx", "cl"}, offsetof(user_regs_struct, rcx)},
      {{"rdx", "edx", "dx", "dl"}, offsetof(user_regs_struct, rdx)},
      {{"rsi", "esi", "si", "sil"}, offsetof(user_regs_struct, rsi)},
      {{"rdi", "edi", "di", "dil"}, offsetof(user_regs_struct, rdi)},
      {{"rbp", "ebp", "bp", "bpl"}, offsetof(user_regs_struct, rbp)},
      {{"rsp", "esp", "sp", "spl"}, offsetof(user_regs_struct, rsp)},
      {{"r8", "r8d", "r8w", "r8b"}, offsetof(user_regs_struct, r8)},
      {{"r9", "r9d", "r9w", "r9b"}, offsetof(user_regs_struct, r9)},
      {{"r10", "r10d", "r10w", "r10b"}, offsetof(user_regs_struct, r10)},
      {{"r11", "r11d", "r11w", "r11b"}, offsetof(user_regs_struct, r11)},
      {{"r12", "r12d", "r12w", "r12b"}, offsetof(user_regs_struct, r12)},
      {{"r13", "r13d", "r13w", "r13b"}, offsetof(user_regs_struct, r13)},
      {{"r14", "r14d", "r14w", "r14b"}, offsetof(user_regs_struct, r14)},
      {{"r15", "r15d", "r15w", "r15b"}, offsetof(user_regs_struct, r15)},
      {{"rip", "", "", ""}, offsetof(user_regs_struct, rip)},
  };
  for (const Reg& reg : kRegs) {
    for (const char* n : reg.names) {
      if (*n && r == n) return static_cast<int>(reg.off);
    }
  }
  return -1;
}

}  // namespace
#endif

absl::StatusOr<std::vector<UsdtArgSpec>> ParseUsdtArgs(const std::string& args, const std::string& field) {
  std::vector<UsdtArgSpec> out;
  for (absl::string_view a : absl::StrSplit(args, ' ', absl::SkipWhitespace())) {
    const std::string quoted = absl::StrCat("argument spec \"", a, "\"");
    size_t at = a.find('@');
    int size = 0;
    if (at == absl::string_view::npos || !absl::SimpleAtoi(a.substr(0, at), &size)) {
      return Bad(field, absl::StrCat(quoted, " has no size"));
    }
    const bool is_signed = size < 0;
    size = std::abs(size);
    const int log2 = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : size == 8 ? 3 : -1;
    if (log2 < 0) return Bad(field, absl::StrCat(quoted, ": size ", size, " is not 1, 2, 4 or 8"));
    absl::string_view op = a.substr(at + 1);
#if defined(__x86_64__)
    UsdtArgSpec s;
    // A segment prefix (%fs:...) is not read (Tetragon does not read it either).
    if (op.find(':') != absl::string_view::npos) {
      return absl::UnimplementedError(absl::StrCat(
          field, ": ", quoted, ": segment-relative operands are not supported by tgdispatch yet (nor by Tetragon)"));
    }
    if (absl::ConsumePrefix(&op, "$")) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(op, &v) || v < INT32_MIN || v > INT32_MAX) {
        return absl::UnimplementedError(absl::StrCat(field, ": ", quoted, ": constants beyond 32 bits are not supported by tgdispatch yet"));
      }
      s.spec = TGD_USDT_SPEC(0, 3, log2, is_signed);
      s.value = static_cast<uint32_t>(static_cast<int32_t>(v));
    } else if (absl::ConsumePrefix(&op, "%")) {
      int off = RegOffset(op);
      if (off < 0) return absl::UnimplementedError(absl::StrCat(field, ": ", quoted, ": register is not supported by tgdispatch yet"));
      s.spec = TGD_USDT_SPEC(off, 1, log2, is_signed);
    } else {
      // disp(%base), disp(%base,%index) or disp(%base,%index,scale); the
      // displacement may be absent.
      size_t open = op.find("(%");
      if (open == absl::string_view::npos || !absl::EndsWith(op, ")")) {
        return absl::UnimplementedError(absl::StrCat(field, ": ", quoted, ": operand form is not supported by tgdispatch yet"));
      }
      int64_t disp = 0;
      if (open > 0 && (!absl::SimpleAtoi(op.substr(0, open), &disp) || disp < INT32_MIN || disp > INT32_MAX)) {
        return absl::UnimplementedError(absl::StrCat(field, ": ", quoted, ": displacement is not supported by tgdispatch yet"));
      }
      std::vector<absl::string_view> regs = absl::StrSplit(op.substr(open + 1, op.size() - open - 2), ',');
      if (regs.size() > 3) return Bad(field, absl::StrCat(quoted, ": malformed memory operand"));
      int off = absl::ConsumePrefix(&regs[0], "%") ? RegOffset(regs[0]) : -1;
      if (off < 0) return absl::UnimplementedError(absl::StrCat(field, ": ", quoted, ": register is not supported by tgdispatch yet"));
      if (regs.size() == 1) {
        s.spec = TGD_USDT_SPEC(off, 2, log2, is_signed);
        s.value = static_cast<uint32_t>(static_cast<int32_t>(disp));
      } else {
        int idx = absl::ConsumePrefix(&regs[1], "%") ? RegOffset(regs[1]) : -1;
        if (idx < 0 || idx == static_cast<int>(offsetof(user_regs_struct, rip))) {
          return absl::UnimplementedError(
              absl::StrCat(field, ": ", quoted, ": index register is not supported by tgdispatch yet"));
        }
        int scale = 1;
        if (regs.size() == 3 && (!absl::SimpleAtoi(regs[2], &scale) || (scale != 1 && scale != 2 && scale != 4 && scale != 8))) {
          return Bad(field, absl::StrCat(quoted, ": scale \"", regs[2], "\" is not 1, 2, 4 or 8"));
        }
        if (disp < -(1 << 23) || disp >= (1 << 23)) {
          return absl::UnimplementedError(absl::StrCat(
              field, ": ", quoted, ": displacements beyond 24 bits with an index register are not supported by tgdispatch yet"));
        }
        const int scale_log2 = scale == 1 ? 0 : scale == 2 ? 1 : scale == 4 ? 2 : 3;
        s.spec = TGD_USDT_SPEC_SIB(off, log2, is_signed, scale_log2);
        s.value = TGD_USDT_SIB_VALUE(static_cast<int32_t>(disp), idx);
      }
    }
    out.push_back(s);
#else
    (void)op;
    return absl::UnimplementedError(absl::StrCat(field, ": USDT arguments on this architecture are not supported by tgdispatch yet"));
#endif
  }
  return out;
}

}  // namespace tgd
