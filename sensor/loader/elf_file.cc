// ELF reading for uprobe addresses and USDT notes (see elf_file.h), with
// libelf.
#include "sensor/loader/elf_file.h"

#include <gelf.h>
#include <libelf.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

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

}  // namespace tgd
