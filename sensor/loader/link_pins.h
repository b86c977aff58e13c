// LinkPins: the dispatch loader's attachments (dispatchers, exec tracker)
// and shared maps pinned in bpffs so that they outlive the daemon. Each daemon run pins into
// its own "generation" directory, <bpf-dir>/gen-<N>. A pinned link keeps its
// program attached, and the program keeps its maps (configs, run lists,
// value sets, exec tracker, ring buffer): a `kill -9` or a SIGTERM with
// enforcement kept leaves every policy enforcing. The next run attaches its
// own generation (fresh maps, built from the policies it loads), and only
// once that is loaded retires the older generations (RetireGenerations):
// for a moment both run, never neither. Old and new share no map, so a
// changed struct layout (an upgrade) needs no migration.
#ifndef TGDISPATCH_SENSOR_LOADER_LINK_PINS_H_
#define TGDISPATCH_SENSOR_LOADER_LINK_PINS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tgd {

// The prefix of generation directories under --bpf-dir.
inline constexpr char kGenerationPrefix[] = "gen-";

class LinkPins {
 public:
  // Creates <bpf_dir>/gen-<N>, N one more than the highest generation there
  // (bpf_dir must exist on bpffs). Errors: mkdir's errno (e.g.
  // FAILED_PRECONDITION/PERMISSION_DENIED), naming the directory.
  static absl::StatusOr<std::unique_ptr<LinkPins>> Create(const std::string& bpf_dir);
  // Leaves the pins (and the links they hold) in place.
  ~LinkPins() = default;

  const std::string& dir() const { return dir_; }
  // Pins link or map `fd` as dir()/name (replacing a pin of that name).
  // Errors: bpf_obj_pin's errno naming the path.
  absl::Status Pin(int fd, const std::string& name);
  // Removes dir()/name; the link detaches when its last fd closes.
  void Unpin(const std::string& name);
  // Removes every pin and the directory (enforcement is not to outlive the
  // process). Idempotent.
  void RemoveAll();

 private:
  explicit LinkPins(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// The generation directories under `bpf_dir` (full paths, oldest first).
std::vector<std::string> ListGenerations(const std::string& bpf_dir);

// Detaches everything pinned in `dirs`: every pin is opened, unlinked, and
// the directory removed; then the links are closed from several threads (each
// detach waits for a grace period; concurrent ones share it). Returns how many
// pins were removed. Pins that cannot be opened are still unlinked.
size_t RetireGenerations(const std::vector<std::string>& dirs);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_LINK_PINS_H_
