// The per-policy comparison loader (--loader=per-policy): Tetragon's shape,
// kept so benchmarks can compare both designs on one kernel in one run.
// User space loads this object once per (policy, hook) with the policy's id
// in .rodata, attaches its program to the hook directly (one attachment per
// policy), and gives it its own maps sized as Tetragon sizes a policy's:
// a preallocated cgroup set of 32,768 slots (Tetragon's policy_filter_maps
// inner map) and the per-CPU heaps of a Tetragon sensor (data_heap,
// process_call_heap, string_maps_heap, buffer_heap). Every program runs on
// every event of its hook and checks its own cgroup set first, as upstream.
// Evaluation itself is the shared code, so only the architecture differs.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/dispatch/eval.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 tgd_pp_policy_id = 0;
const volatile __u32 tgd_pp_filtered = 0; /* 0: applies to every cgroup */

/* The policy's cgroups (Tetragon: policy_filter_maps inner map, 32,768
 * preallocated slots). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32768);
  __type(key, __u64);
  __type(value, __u8);
} tgd_pp_cgroups SEC(".maps");

/* Tetragon's per-policy per-CPU heaps (sizes from design.md section 1). The
 * programs stage each event in the data heap as Tetragon does. */
struct tgd_pp_data {
  char b[32768];
};
struct tgd_pp_call {
  char b[25600];
};
struct tgd_pp_string {
  char b[16384];
};
struct tgd_pp_buffer {
  char b[4096];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_pp_data);
} tgd_pp_data_heap SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_pp_call);
} tgd_pp_call_heap SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_pp_string);
} tgd_pp_string_heap SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_pp_buffer);
} tgd_pp_buffer_heap SEC(".maps");

static __always_inline int per_policy(void *ctx, int kind) {
  int is_pod = 0;
  __u64 cgid = current_cgroup(&is_pod);
  if (tgd_pp_filtered && !bpf_map_lookup_elem(&tgd_pp_cgroups, &cgid)) return 0;
  /* Touch the heaps the way a Tetragon program does before it builds its
   * event (one lookup each). */
  __u32 zero = 0;
  char *data = bpf_map_lookup_elem(&tgd_pp_data_heap, &zero);
  char *call = bpf_map_lookup_elem(&tgd_pp_call_heap, &zero);
  char *str = bpf_map_lookup_elem(&tgd_pp_string_heap, &zero);
  char *buf = bpf_map_lookup_elem(&tgd_pp_buffer_heap, &zero);
  if (!data || !call || !str || !buf) return 0;
  data[0] = call[0] = str[0] = buf[0] = 0;
  struct tgd_hook_stats *st = hook_stats();
  if (st) st->runs++;
  struct eval_ctx ec = {.ctx = ctx, .st = st, .cgid = cgid};
  eval_one(&ec, policy_cfg(tgd_pp_policy_id), 0, kind);
  release_scratch(&ec);
  return tgd_verdict(ec.verdict);
}

SEC("tracepoint")
int tgd_pp_tp(void *ctx) { return per_policy(ctx, TGD_HOOK_TRACEPOINT); }

SEC("raw_tp")
int tgd_pp_rawtp(struct bpf_raw_tracepoint_args *ctx) { return per_policy(ctx, TGD_HOOK_RAW_TP); }

SEC("kprobe")
int tgd_pp_kprobe(struct pt_regs *ctx) { return per_policy(ctx, TGD_HOOK_KPROBE); }

SEC("lsm")
int tgd_pp_lsm(unsigned long long *ctx) { return per_policy(ctx, TGD_HOOK_LSM); }
