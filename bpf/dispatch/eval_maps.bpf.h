/* The maps of the dispatch datapath (shared by every hook instance of the
 * dispatch object; the per-policy object gets its own copies of the config
 * and value maps) and the hook id set before load. Part of eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_EVAL_MAPS_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_EVAL_MAPS_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"

/* Set per hook instance before load. */
const volatile __u32 tgd_hook_id = 0;

/* The gates of one event (dispatch_abi.h "Gates"): bit g of `known`: gate
 * g looked up; of `open`: the event's value is in the hook's union of gate
 * g (some listed policy gated on it may match). */
struct tgd_gates {
  __u32 known;
  __u32 open;
};

/* stack id -> the frames of a stack (bpf_get_stackid, kernel and user
 * stacks alike), shared by every policy and hook; written by the kernel on a
 * Post with kernelStackTrace/userStackTrace, read by user space (never
 * deleted: an id may be named by several events in flight; a new stack whose
 * bucket is taken gets -EEXIST, as in Tetragon). Sized by user space before
 * load (DispatchOptions::stack_trace_entries). */
struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, TGD_STACK_ENTRIES);
  __type(key, __u32);
  __uint(value_size, sizeof(__u64) * TGD_STACK_DEPTH);
} tgd_stacks SEC(".maps");

/* (policy, sock) -> the task that tracked it (TrackSock; UntrackSock
 * deletes). Read when a policy's evaluation reads a sock argument. LRU: an
 * entry never untracked (a socket closed without it) goes when room is
 * needed. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, TGD_SOCKTRACK_ENTRIES);
  __type(key, struct tgd_sock_key);
  __type(value, struct tgd_sock_owner);
} tgd_socktrack SEC(".maps");

/* Config and run-list slots (dispatch_abi.h: "Slots"): ARRAY chunks behind
 * an ARRAY_OF_MAPS. User space adds a chunk when its free slots run out (the
 * only map-in-map write; chunks are kept until the daemon exits) and sizes
 * the outer arrays before load. */
struct tgd_cfg_chunk {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, TGD_CFG_CHUNK);
  __type(key, __u32);
  __type(value, struct tgd_cfg_slot);
};

struct tgd_run_chunk {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, TGD_RUN_CHUNK);
  __type(key, __u32);
  __type(value, struct tgd_run_slot);
};

/* The chunk templates, also declared as maps so that the compiler emits the
 * full value types into BTF (libbpf needs their sizes); user space sizes
 * them to one entry. */
struct tgd_cfg_chunk tgd_cfg_template SEC(".maps");
struct tgd_run_chunk tgd_run_template SEC(".maps");

/* Chunk index -> config chunk. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 128);
  __type(key, __u32);
  __array(values, struct tgd_cfg_chunk);
} tgd_cfg_chunks SEC(".maps");

/* Chunk index -> run-list chunk. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 128);
  __type(key, __u32);
  __array(values, struct tgd_run_chunk);
} tgd_run_chunks SEC(".maps");

/* policy id -> reference (TGD_SLOT_REF) to its config slot. A u64 switched
 * by one update; deleted with the policy. The per-policy loader's config
 * (each of its objects has its own copy); the dispatchers use
 * tgd_cfg_index. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, __u64);
} tgd_policy_cfgs SEC(".maps");

/* Config index (tgd_run_list.policy[]: a dense number user space gives each
 * policy hook for its lifetime, reused a grace period after its delete) ->
 * reference (TGD_SLOT_REF) to its config slot, 0: none. What the run lists
 * name, so a config update switches one u64 and rewrites no run list, and a
 * dispatcher finds a config without hashing. Sized by user space
 * (max_policies). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u64);
} tgd_cfg_index SEC(".maps");

/* (hook, cgroup) -> reference (TGD_SLOT_REF) to the slot of the policies to
 * run. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_run_key);
  __type(value, __u64);
} tgd_run_lists SEC(".maps");

/* Reads a published slot reference once (one 64-bit load). */
static __always_inline __u64 tgd_read_ref(__u64 *ref) { return *(volatile __u64 *)ref; }

/* The config of policy `id`, or 0. A reference whose slot does not carry it
 * (its hash element was reused under us) is looked up again. */
static __always_inline struct tgd_policy_cfg *policy_cfg(__u32 id) {
#pragma unroll
  for (int attempt = 0; attempt < 3; attempt++) {
    __u64 *ref = bpf_map_lookup_elem(&tgd_policy_cfgs, &id);
    if (!ref) return 0;
    __u64 r = tgd_read_ref(ref);
    __u32 slot = (__u32)r, seq = (__u32)(r >> 32);
    __u32 chunk = slot >> TGD_CFG_CHUNK_SHIFT;
    void *inner = bpf_map_lookup_elem(&tgd_cfg_chunks, &chunk);
    if (!inner) return 0;
    __u32 idx = slot & (TGD_CFG_CHUNK - 1);
    struct tgd_cfg_slot *s = bpf_map_lookup_elem(inner, &idx);
    if (!s) return 0;
    if (s->seq == seq && s->owner == id) return &s->cfg;
  }
  return 0;
}

/* The config at config index `idx`, or 0. A reference read torn (an
 * update wrote the element meanwhile) names a slot that does not carry it:
 * read again. */
static __always_inline struct tgd_policy_cfg *policy_cfg_at(__u32 idx) {
#pragma unroll
  for (int attempt = 0; attempt < 3; attempt++) {
    __u64 *ref = bpf_map_lookup_elem(&tgd_cfg_index, &idx);
    if (!ref) return 0;
    __u64 r = tgd_read_ref(ref);
    if (!r) return 0;
    __u32 slot = (__u32)r, seq = (__u32)(r >> 32);
    __u32 chunk = slot >> TGD_CFG_CHUNK_SHIFT;
    void *inner = bpf_map_lookup_elem(&tgd_cfg_chunks, &chunk);
    if (!inner) return 0;
    __u32 i = slot & (TGD_CFG_CHUNK - 1);
    struct tgd_cfg_slot *s = bpf_map_lookup_elem(inner, &i);
    if (!s) return 0;
    if (s->seq == seq) return &s->cfg;
  }
  return 0;
}

/* Value sets: integers (matchArgs Equal/NotEqual, matchPIDs, matchNamespaces),
 * exact strings, string prefixes, reversed string postfixes. Elements are
 * allocated on insert (BPF_F_NO_PREALLOC); a hash still allocates its bucket
 * array (16 bytes a slot) up front, so the sizes are moderate (user space
 * may change them before load). */
/* (policy, clause tag, integer) -> present. Written by user space. Also
 * holds the gate unions: (TGD_GATE_POLICY, TGD_GATE_TAG(hook, gate), value)
 * (dispatch_abi.h "Gates"). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_int_key);
  __type(value, __u8);
} tgd_int_values SEC(".maps");

/* (policy, clause tag, exact string) -> present (matchBinaries In, matchArgs Equal). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_str_key);
  __type(value, __u8);
} tgd_str_values SEC(".maps");

/* LPM: (policy, clause tag, string prefix) -> present (Prefix operators). */
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_lpm_key);
  __type(value, __u8);
} tgd_str_prefix SEC(".maps");

/* LPM: (policy, clause tag, reversed string) -> present (Postfix operators). */
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_lpm_key);
  __type(value, __u8);
} tgd_str_postfix SEC(".maps");

/* Exec tracker: thread group id -> current binary path. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct tgd_exec_path);
} tgd_exec_paths SEC(".maps");

/* Which process tracking is on (TGD_TRACK_*, index 0); written by user space
 * while a loaded policy uses matchParentBinaries or the change selectors. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} tgd_track_flags SEC(".maps");

/* matchBinaries followChildren (TGD_TRACK_FOLLOW_CHILDREN), as Tetragon's
 * mbset: a binary path (zero-padded) -> the followChildren bits whose
 * values hold it; written by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, char[TGD_STR_MAX]);
  __type(value, __u64);
} tgd_follow_paths SEC(".maps");

/* Thread group id -> the followChildren bits of the binaries it and its
 * ancestors ran (kept across its execs, inherited at fork); written by the
 * trackers and by a match found through an ancestor (a process older than
 * the policy), bits cleared by user space when a policy goes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, __u64);
} tgd_follow_bits SEC(".maps");

/* Parent binary tracker (TGD_TRACK_PARENT_BIN): thread group id -> the binary
 * it ran before its last exec (its parent's, copied at fork, or its own
 * previous one), as Tetragon's matchParentBinaries sees it. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct tgd_exec_path);
} tgd_parent_paths SEC(".maps");

/* Exec-time credentials (TGD_TRACK_EXEC_CREDS): thread group id -> its
 * capabilities and namespaces at exec (the parent's at fork); written by the
 * trackers, refreshed by a matching change selector. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct tgd_exec_creds);
} tgd_exec_creds SEC(".maps");

/* Per-CPU staging buffer of the exec tracker (a path is too big for the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_exec_path);
} tgd_exec_scratch SEC(".maps");

struct tgd_scratch {
  __u64 busy;
  struct tgd_policy_event ev;
};

/* Per-CPU evaluation slots: busy flag (compare-and-swap) + the event being built. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TGD_SCRATCH_SLOTS);
  __type(key, __u32);
  __type(value, struct tgd_scratch);
} tgd_scratch SEC(".maps");

/* What the dispatcher found for the event it tail-calls the evaluator for
 * (per CPU, one entry): the evaluator uses it instead of repeating the
 * lookups when it is stamped with the current task and the evaluator's
 * hook. A program preempted between the two (faultable tracepoints) may find
 * another task's stamp: it then looks up again. */
struct tgd_handoff {
  __u64 pid_tgid;
  __u64 cgid;     /* the tracked cgroup */
  __u64 run_ref;  /* the (hook, cgid) run list's reference (TGD_SLOT_REF); has_ref */
  __u32 hook_id;
  __u32 flags;    /* the hook's TGD_HOOKF_* */
  __u32 is_pod;
  __u32 has_ref;
  struct tgd_gates gates; /* what the dispatcher's gate lookups found */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_handoff);
} tgd_handoff SEC(".maps");

/* Policy events. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 22);
} tgd_events SEC(".maps");

/* Per-CPU sequence of data ids of posted events with long buffers (an id
 * is the CPU and its sequence number; data_chunks.bpf.h). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} tgd_data_seq SEC(".maps");

/* Hook id -> per-CPU counters (struct tgd_hook_stats); user space sums them. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, struct tgd_hook_stats);
} tgd_stats SEC(".maps");

/* Policy id -> its counters (struct tgd_policy_counters). User space creates
 * the entry with the policy and deletes it with it; the datapath only adds. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct tgd_policy_counters);
} tgd_policy_counters SEC(".maps");

/* Rate-limited Posts: (policy, selector, action, scope, argument bytes) ->
 * time of the last posted event. LRU: the least recently used keys make
 * room (an evicted key posts again), so the map never fills. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct tgd_rate_key);
  __type(value, __u64);
} tgd_rate_limits SEC(".maps");

/* Hook id -> TGD_HOOKF_* (which cgroup-independent run lists exist); written by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_hook_flags SEC(".maps");

/* Return probes (dispatch_abi.h "Entry/return pairing"). Written by the
 * calling task's own programs (dispatchers push, the return evaluator
 * pops) and by the exit tracker when the task exits. */
/* tid -> depth of its open calls of paired hooks (deleted at 0). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, __u32);
} tgd_ret_depth SEC(".maps");

/* (tid, depth) -> the frame of that open call. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_ret_key);
  __type(value, struct tgd_ret_frame);
} tgd_ret_frames SEC(".maps");

/* The policy program of each hook, by hook id; one array per program type. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_tp SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_rawtp SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_kprobe SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_lsm SEC(".maps");

#endif /* TGDISPATCH_BPF_DISPATCH_EVAL_MAPS_BPF_H_ */
