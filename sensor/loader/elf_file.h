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

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_ELF_FILE_H_
