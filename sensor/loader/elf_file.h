// What the loader reads from a probed ELF file with libelf: the file offset
// of a virtual address (uprobe `addrs`), and the USDT probe sites of its
// `.note.stapsdt` notes.
#ifndef TGDISPATCH_SENSOR_LOADER_ELF_FILE_H_
#define TGDISPATCH_SENSOR_LOADER_ELF_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tgd {

// The file offset at which the loadable segment holding virtual address
// `addr` maps it (the ELF at descriptor `fd`, read with pread; the offset
// is unchanged). Errors: INVALID_ARGUMENT (not an ELF file, or no PT_LOAD
// segment holds the address), each message starting with `field`.
absl::StatusOr<uint64_t> ElfFileOffsetOfAddr(int fd, uint64_t addr, const std::string& field);

// One USDT probe site (a stapsdt note).
struct UsdtSite {
  std::string provider, name;
  std::string args;              // the note's argument specs, e.g. "-4@%eax 8@-8(%rbp)"
  uint64_t offset = 0;           // file offset of the probe's instruction
  uint64_t semaphore_offset = 0; // file offset of its semaphore (0: none)
};

// Every stapsdt note of the ELF at `fd`, addresses adjusted for prelinking
// (.stapsdt.base) and mapped to file offsets. Errors: INVALID_ARGUMENT
// naming `field` (not an ELF file, a malformed note).
absl::StatusOr<std::vector<UsdtSite>> ReadUsdtSites(int fd, const std::string& field);

// One argument of a stapsdt note, as the datapath reads it (TGD_SRC_USDT):
// `spec` is TGD_USDT_SPEC(...), `value` the constant or displacement.
struct UsdtArgSpec {
  uint16_t spec = 0;
  uint32_t value = 0;
};

// The argument specs of a note ("-4@%eax 8@-8(%rbp) -4@48(%rsp,%rdx,4)
// 4@$5"): registers, memory at a register plus a displacement (and an index
// register times 1, 2, 4 or 8), and constants, for x86-64, as Tetragon reads
// them. Errors: UNIMPLEMENTED naming `field` for an operand form it does not
// read (a segment, as Tetragon; another architecture), INVALID_ARGUMENT for
// a malformed spec.
absl::StatusOr<std::vector<UsdtArgSpec>> ParseUsdtArgs(const std::string& args, const std::string& field);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_ELF_FILE_H_
