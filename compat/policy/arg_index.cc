// matchArgs index resolution, as Tetragon's sensors do it (see arg_index.h).
#include "compat/policy/arg_index.h"

namespace tgd::policy {

int RewriteTracepointMatchIndex(const std::vector<ArgSpec>& args, int index) {
  for (size_t pos = 0; pos < args.size(); ++pos) {
    if (args[pos].index == index) index = static_cast<int>(pos);
  }
  return index;
}

int MatchArgPosition(const Hook& hook, int index) {
  if (hook.kind == HookKind::kTracepoint || hook.kind == HookKind::kRawTracepoint) {
    int pos = RewriteTracepointMatchIndex(hook.args, index);
    return pos >= 0 && static_cast<size_t>(pos) < hook.args.size() ? pos : -1;
  }
  for (size_t pos = 0; pos < hook.args.size(); ++pos) {
    if (hook.args[pos].index == index) return static_cast<int>(pos);
  }
  return -1;
}

}  // namespace tgd::policy
