/* The dispatcher datapath's shared ABI: map keys and values, the compiled
 * policy config and the policy event record, used by dispatch.bpf.c and by
 * user space (sensor/loader). Fixed-width fields and explicit padding; both
 * compilers check the sizes. Never renumber a constant, only add. */
#ifndef TGDISPATCH_BPF_DISPATCH_DISPATCH_ABI_H_
#define TGDISPATCH_BPF_DISPATCH_DISPATCH_ABI_H_

#ifndef __bpf__
#include <linux/types.h>
#include <stddef.h>
#endif

/* Limits. A policy beyond them is refused at add time, naming the field. */
#define TGD_MAX_HOOKS 1024          /* distinct hooks (slot in the tail-call arrays) */
#define TGD_MAX_ARGS 5              /* args per hook in one policy (as Tetragon) */
#define TGD_MAX_SELECTORS 5         /* selectors per hook (as Tetragon) */
#define TGD_MAX_INT_CLAUSES 4       /* matchArgs on integers per selector */
#define TGD_MAX_STR_CLAUSES 4       /* matchArgs on strings per selector */
#define TGD_MAX_NS_CLAUSES 4        /* matchNamespaces per selector */
#define TGD_MAX_ACTIONS 4           /* matchActions per selector */
#define TGD_MAX_CAP_CLAUSES 3       /* matchCapabilities per selector (ANDed) */
#define TGD_RUN_MAX 64              /* policies in one run list */
#define TGD_STR_MAX 240             /* bytes of a string value (LPM data <= 256) */
#define TGD_STR_MASK 255

/* Hook kinds. */
#define TGD_HOOK_TRACEPOINT 1
#define TGD_HOOK_RAW_TP 2
#define TGD_HOOK_KPROBE 3
#define TGD_HOOK_UPROBE 4 /* user space only: uprobes run the kprobe-type programs */
#define TGD_HOOK_LSM 5

/* Where and how an argument is read. */
#define TGD_SRC_TP_FIELD 1 /* ctx + offset (tracepoint record) */
#define TGD_SRC_RAW_ARG 2  /* ((u64 *)ctx)[index] (raw tracepoint args) */
#define TGD_SRC_REG 3      /* kprobe: function argument `index` */
/* 4: kprobe on a syscall wrapper (arguments in the inner pt_regs) */
#define TGD_SRC_BTF_ARG 5  /* LSM: ((u64 *)ctx)[index] */
#define TGD_SRC_RET 6      /* return probe: the function's return value */
/* USDT argument (uprobe pt_regs): index = TGD_USDT_* spec, offset | size_loc << 16 = 32-bit value
 * (constant, or displacement of a memory operand). */
#define TGD_SRC_USDT 7
/* kprobes/uprobes `data`: the value a resolve path starts from. */
#define TGD_SRC_CURRENT_TASK 8 /* the current task_struct (source: current_task) */
#define TGD_SRC_PT_REGS 9      /* a register of the probe's pt_regs at byte offset `index` (source: pt_regs) */
#define TGD_USDT_REG_OFF(x) ((x)&0xff)       /* pt_regs byte offset of the register */
#define TGD_USDT_KIND(x) (((x) >> 8) & 3)    /* 1 register, 2 memory at register + value, 3 constant */
#define TGD_USDT_SIZE_LOG2(x) (((x) >> 10) & 3) /* the note's operand size: 1, 2, 4 or 8 bytes */
#define TGD_USDT_SIGNED(x) (((x) >> 12) & 1)
/* Kind 2 with an index register ("-4@48(%rsp,%rdx,4)"): memory at register +
 * index register << scale + displacement; the 32-bit value then holds the
 * displacement in its low 24 bits (signed) and the index register's pt_regs
 * offset / 8 in bits 24-28. */
#define TGD_USDT_SIB(x) (((x) >> 13) & 1)
#define TGD_USDT_SCALE_LOG2(x) (((x) >> 14) & 3)
#define TGD_USDT_SPEC(reg_off, kind, size_log2, is_signed) \
  ((__u16)((reg_off) | ((kind) << 8) | ((size_log2) << 10) | ((is_signed) << 12)))
#define TGD_USDT_SPEC_SIB(reg_off, size_log2, is_signed, scale_log2) \
  ((__u16)(TGD_USDT_SPEC(reg_off, 2, size_log2, is_signed) | (1 << 13) | ((scale_log2) << 14)))
#define TGD_USDT_SIB_VALUE(disp24, idx_off) ((((__u32)(disp24)) & 0xffffff) | (((__u32)(idx_off) / 8) << 24))
#define TGD_USDT_SIB_DISP(v) ((__s32)((__u32)(v) << 8) >> 8)
#define TGD_USDT_SIB_IDX_OFF(v) ((((__u32)(v) >> 24) & 0x1f) * 8)

#define TGD_ARG_INT 1          /* integer of `size` bytes, `is_signed` */
/* tgd_arg_desc.is_signed of a tracepoint's syscall64 argument: signed, and
 * Tetragon's Is32Bit flag (TGD_SYSCALL64_32BIT) is set in the value when the
 * task is in a 32-bit (compat) syscall, as Tetragon's tracepoint reader. */
#define TGD_INT_SYSCALL64 2
#define TGD_SYSCALL64_32BIT 0x80000000ULL
#define TGD_ARG_STR_USER 2     /* pointer to a user string */
#define TGD_ARG_STR_KERNEL 3   /* pointer to a kernel string */
#define TGD_ARG_DATA_LOC_STR 4 /* tracepoint __data_loc char[] */
#define TGD_ARG_INLINE_STR 5   /* tracepoint char[N] field */
/* Kernel objects and buffers (bpf/dispatch/arg_readers.bpf.h reads them;
 * sensor/loader/arg_types.cc picks them; arg_render.cc renders them). */
#define TGD_ARG_FILE 6       /* struct file *: path, mode, path flags */
#define TGD_ARG_PATH 7       /* struct path * */
#define TGD_ARG_DENTRY 8     /* struct dentry *: path inside its file system */
#define TGD_ARG_BINPRM 9     /* struct linux_binprm *: its file */
#define TGD_ARG_FD 10        /* fd of the current task: its file */
#define TGD_ARG_SOCK 11      /* struct sock * */
#define TGD_ARG_SOCKET 12    /* struct socket *: its sock */
#define TGD_ARG_SKB 13       /* struct sk_buff *: IP/TCP/UDP headers */
#define TGD_ARG_NETDEV 14    /* struct net_device *: its name */
#define TGD_ARG_CRED 15      /* struct cred * */
#define TGD_ARG_USER_NS 16   /* struct user_namespace * */
#define TGD_ARG_CAP_SET 17   /* kernel_cap_t *: the 64-bit set */
#define TGD_ARG_USER_BUF 18  /* user buffer; length in another argument (size_loc) or fixed (size_loc 0xffff: size) */
#define TGD_ARG_KERNEL_BUF 19 /* kernel buffer of fixed length */
#define TGD_ARG_FILENAME 20  /* struct filename *: its name (kernel string) */
#define TGD_ARG_KIOCB 21     /* struct kiocb *: its file */
#define TGD_ARG_BPF_ATTR 23   /* union bpf_attr *: prog type, insn count, prog name */
#define TGD_ARG_BPF_PROG 24   /* struct bpf_prog * */
#define TGD_ARG_BPF_MAP 25    /* struct bpf_map *: type, key/value sizes, max entries, name */
#define TGD_ARG_PERF_EVENT 26 /* struct perf_event *: kprobe function, type, config, probe offset */
#define TGD_ARG_MODULE 27     /* struct module *: name, taints */
#define TGD_ARG_LOAD_INFO 28  /* struct load_info *: name, taints, signature */
#define TGD_ARG_SOCKADDR_UN 29 /* struct sockaddr * of AF_UNIX: path ("@name" when abstract), family in mode; is_signed: user memory */
#define TGD_ARG_IOVEC 30        /* const struct iovec *: the first TGD_STR_MAX bytes of its buffers; count from size_loc; is_signed: user memory */
#define TGD_ARG_IOV_ITER 31      /* struct iov_iter *: the first TGD_STR_MAX bytes of its user buffer (ITER_UBUF, first ITER_IOVEC segment) */
#define TGD_ARG_SOCKADDR 22  /* struct sockaddr * (family, address and port in saddr/sport); is_signed: user memory */

/* Path flags of a path-like argument (Tetragon's). */
#define TGD_PATHF_UNRESOLVED 0x2 /* the walk stopped before the root */

/* Fields of an argument a clause can look at (tgd_int_clause.field,
 * tgd_str_clause.field). 0: the argument itself. */
#define TGD_FIELD_VALUE 0
#define TGD_FIELD_FAMILY 1
#define TGD_FIELD_PROTOCOL 2
#define TGD_FIELD_STATE 3
#define TGD_FIELD_SPORT 4
#define TGD_FIELD_DPORT 5
#define TGD_FIELD_FILE_TYPE 6 /* mode & S_IFMT */
#define TGD_FIELD_SADDR 7     /* string clauses: LPM on (family, address) */
#define TGD_FIELD_DADDR 8

/* Operators (integers, strings, binaries, pids, namespaces, capabilities). */
#define TGD_OP_NONE 0
#define TGD_OP_EQ 1       /* Equal / In */
#define TGD_OP_NEQ 2      /* NotEqual / NotIn */
#define TGD_OP_PREFIX 3
#define TGD_OP_NOT_PREFIX 4
#define TGD_OP_POSTFIX 5
#define TGD_OP_NOT_POSTFIX 6
#define TGD_OP_GT 7
#define TGD_OP_LT 8
#define TGD_OP_MASK 9
#define TGD_OP_IN_RANGE 10     /* in the value set or in [value, value2] */
#define TGD_OP_NOT_IN_RANGE 11 /* in neither */
#define TGD_OP_SUBSTRING 12        /* a value occurs in the string: values are stored as prefixes and looked up */
#define TGD_OP_SUBSTRING_NOCASE 13 /*   at every position; NOCASE: values lower-cased, the string lowered first */
#define TGD_OP_CAPS_GAINED 14      /* capability sets: the set at position `value` has a bit the set at `arg` lacks */

/* Actions (user space maps them to tetragon.KprobeAction). */
#define TGD_ACT_POST 1
#define TGD_ACT_NOPOST 2
#define TGD_ACT_SIGKILL 3
#define TGD_ACT_SIGNAL 4
#define TGD_ACT_OVERRIDE 5 /* LSM: deny with arg_error */
#define TGD_ACT_GETURL 6      /* posted; user space fetches the selector's argUrl */
#define TGD_ACT_DNSLOOKUP 7   /* posted; user space resolves the selector's argFqdn */
#define TGD_ACT_TRACKSOCK 8   /* tgd_socktrack[(policy, sock arg)] = current task (arg position in sig) */
#define TGD_ACT_UNTRACKSOCK 9 /* deletes that entry */

/* Sockets a policy tracks (TrackSock): events of that policy reading the
 * sock report its owner's pid and tid, as Tetragon's socktrack_map (one per
 * policy there; here one shared map keyed by policy). */
#define TGD_SOCKTRACK_ENTRIES 32000 /* Tetragon's socktrackMapMaxEntries */
struct tgd_sock_key {
  __u64 sock;  /* the struct sock's kernel address (tgd_net_val.cookie) */
  __u32 policy_id; /* tgd_policy_cfg.sock_scope: the TracingPolicy, not the hook */
  __u32 pad;
};
struct tgd_sock_owner {
  __u32 pid;
  __u32 tid;
};

/* rateLimitScope of a Post action: whose events share one limit. */
#define TGD_RATE_THREAD 0  /* Tetragon's default */
#define TGD_RATE_PROCESS 1
#define TGD_RATE_GLOBAL 2
/* Bytes of each argument that make the rate limit key (as Tetragon). */
#define TGD_RATE_BYTES_PER_ARG 40

/* Hook flags (tgd_hook_flags[hook]): which cgroup-independent run lists
 * exist, so that events skip the lookups of lists that are not there. */
#define TGD_HOOKF_UNFILTERED (1u << 0) /* run list (hook, 0) */
#define TGD_HOOKF_HOST (1u << 1)       /* run list (hook, host) */
/* Return probes (see "Entry/return pairing" below). */
#define TGD_HOOKF_RET_ENTRY (1u << 2)  /* entry of a pair: push a frame on every call */
#define TGD_HOOKF_RET_RETURN (1u << 3) /* return probe: pop a frame on every return */
#define TGD_HOOKF_PAIR_SHIFT 16        /* return probe: its entry hook's id in bits 16-31 */

/* Policy flags. */
#define TGD_POLICY_ENABLED (1u << 0)
#define TGD_POLICY_MONITOR (1u << 1)

/* Selector flags: which clause kinds are present. */
#define TGD_SEL_BINARIES (1u << 0)
#define TGD_SEL_PIDS (1u << 1)
#define TGD_SEL_CAPS (1u << 2)
#define TGD_SEL_PIDS_NS (1u << 3) /* matchPIDs isNamespacePID */
#define TGD_SEL_PIDS_FOLLOW (1u << 4) /* matchPIDs followForks: the task or an ancestor (tgd_pid_chain_in_set) */
#define TGD_SEL_LINEAGE (1u << 5)     /* followForks, matchParentBinaries or a change clause: tgd_lineage_match */
#define TGD_SEL_CHANGES (1u << 6)     /* matchCapabilityChanges / matchNamespaceChanges */

/* Process tracking the exec/fork trackers do only while a loaded policy
 * needs it (tgd_track_flags[0]), so that policies without these selectors
 * cost nothing at exec and fork. */
#define TGD_TRACK_PARENT_BIN (1u << 0) /* tgd_parent_paths: matchParentBinaries */
#define TGD_TRACK_EXEC_CREDS (1u << 1) /* tgd_exec_creds: matchCapabilityChanges / matchNamespaceChanges */
#define TGD_TRACK_FOLLOW_CHILDREN (1u << 2) /* tgd_follow_bits: matchBinaries followChildren */
#define TGD_FOLLOW_IDS 64 /* followChildren matchBinaries loaded at once (bits of tgd_follow_bits, as Tetragon) */

/* Ancestors a followForks pid set looks at (as Tetragon: the task and 9
 * levels of parents, and the parent pid of each non-namespace level). */
#define TGD_PID_CHAIN_DEPTH 9

/* Value tags: which clause a value entry belongs to. A tag also carries the
 * config generation, so a policy update writes new entries beside the old
 * ones and switches with one map update. */
#define TGD_TAG(gen, sel, kind, idx) \
  ((((__u32)(gen)&0xffff) << 16) | (((__u32)(sel)&0xf) << 12) | (((__u32)(kind)&0xf) << 8) | ((__u32)(idx)&0xff))
#define TGD_TAG_BIN 1
#define TGD_TAG_STR 2
#define TGD_TAG_INT 3
#define TGD_TAG_PID 4
#define TGD_TAG_NS 5
#define TGD_TAG_BIN_HASH 6 /* tgd_path_hash of each matchBinaries In/NotIn value: a prefilter (int set) */
#define TGD_TAG_PBIN 7 /* matchParentBinaries values */

/* Gates: a run list's verdict for all its policies at once on a value the
 * event has whatever the policy (its binary, its pid). A policy whose every
 * selector requires its value to be in one of the policy's sets of one kind
 * (every selector has matchBinaries In: TGD_GATE_BIN; every selector has
 * matchPIDs In without followForks or isNamespacePID: TGD_GATE_PID) is
 * listed with that gate (tgd_run_list.gate). The union of those sets of
 * every gated policy of a hook is kept in tgd_int_values under policy id
 * TGD_GATE_POLICY and tag TGD_GATE_TAG(hook, gate) (present while a loaded
 * policy of the hook holds the value; reference-counted by user space,
 * removed only after a grace period). An event whose value is not in the
 * union of a gate kind cannot match any policy gated on it: one lookup
 * decides for every such policy of the list, which then costs no config
 * lookup, no scratch slot and no selector. A value in the union only says
 * "maybe": the policies are evaluated in full. */
#define TGD_GATE_NONE 0
#define TGD_GATE_BIN 1 /* value: tgd_exec_path.hash of the task's binary (the TGD_TAG_BIN_HASH sets) */
#define TGD_GATE_PID 2 /* value: the task's tgid (the TGD_TAG_PID sets) */
#define TGD_GATE_KINDS 3
#define TGD_GATE_POLICY 0 /* no policy has id 0 */
#define TGD_GATE_TAG(hook, gate) ((((__u32)(hook)) << 4) | ((__u32)(gate)&0xf))

struct tgd_arg_desc {
  __u8 src;       /* TGD_SRC_* (0: unused slot) */
  __u8 type;      /* TGD_ARG_* */
  __u8 size;      /* integers: 1, 2, 4, 8; fixed-length buffers: bytes (<= TGD_STR_MAX) */
  __u8 is_signed; /* integers; TGD_ARG_USER_BUF with size_loc: bytes of the size field */
  __u16 offset;   /* TGD_SRC_TP_FIELD */
  __u16 index;    /* TGD_SRC_RAW_ARG / TGD_SRC_REG */
  __u16 spec_index; /* the policy's `index` (what matchArgs refer to) */
  __u16 size_loc; /* TGD_ARG_USER_BUF: where its length is (offset or index as above); 0xffff: fixed */
};

struct tgd_int_clause {
  __u8 op;    /* TGD_OP_EQ/NEQ (values in tgd_int_values), GT/LT/MASK (value),
                 IN_RANGE/NOT_IN_RANGE (values in tgd_int_values, and [value, value2] when has_range) */
  __u8 arg;   /* position in tgd_policy_cfg.args */
  __u8 field; /* TGD_FIELD_* of the argument */
  __u8 has_range;
  __u8 pad[4];
  __u64 value;
  __u64 value2;
};

struct tgd_str_clause {
  __u8 op;   /* TGD_OP_EQ/NEQ/PREFIX/NOT_PREFIX/POSTFIX/NOT_POSTFIX */
  __u8 arg;
  __u8 field; /* TGD_FIELD_VALUE, or SADDR/DADDR (op PREFIX: in a CIDR, NOT_PREFIX: in none) */
  __u8 pad;
};

struct tgd_ns_clause {
  __u8 op;   /* TGD_OP_EQ / TGD_OP_NEQ, values in tgd_int_values */
  __u8 ns;   /* TGD_NS_* index as in bpf/process/process_msg.h */
  __u8 pad[2];
};

/* tgd_action.sig: Signal's signal; TrackSock/UntrackSock's argSock (the
 * position of the sock argument in args). */
/* tgd_action.flags of a Post (Tetragon's kernelStackTrace, userStackTrace). */
#define TGD_ACTF_KSTACK (1u << 0)
#define TGD_ACTF_USTACK (1u << 1)

/* The shared stack trace map (tgd_stacks): frames per stack (Tetragon's
 * PERF_MAX_STACK_DEPTH) and the default number of distinct stacks it holds. */
#define TGD_STACK_DEPTH 127
#define TGD_STACK_ENTRIES 2048

struct tgd_action {
  __u8 kind; /* TGD_ACT_* (0: none) */
  __u8 sig;
  __u8 rate_scope;     /* Post with rateLimit: TGD_RATE_* */
  __u8 flags;          /* Post: TGD_ACTF_* */
  __s32 arg_error;
  __u32 rate_limit_ms; /* Post: at most one event per key and interval (0: no limit) */
  __u32 pad2;
};

/* A second or third matchCapabilities of a selector (the first is
 * tgd_selector's cap_op/cap_type/cap_mask): op 0 = absent. */
struct tgd_cap_clause {
  __u64 mask;
  __u8 op;   /* EQ (In) / NEQ (NotIn) */
  __u8 type; /* 0 effective, 1 inheritable, 2 permitted */
  __u8 pad[6];
};

struct tgd_selector {
  __u32 flags;     /* TGD_SEL_* */
  __u8 bin_op;     /* matchBinaries operator (TGD_OP_NONE: absent) */
  __u8 pid_op;     /* matchPIDs operator */
  __u8 cap_op;     /* matchCapabilities: EQ (In) / NEQ (NotIn) */
  __u8 cap_type;   /* 0 effective, 1 inheritable, 2 permitted */
  __u8 n_int;
  __u8 n_str;
  __u8 n_ns;
  __u8 n_actions;
  __u32 pad;
  __u64 cap_mask;
  /* matchCapabilityChanges: op EQ (In) / NEQ (NotIn) over cc_mask of set
   * cc_type, compared with the set at exec (tgd_exec_creds). */
  __u64 cc_mask;
  /* matchNamespaceChanges: op EQ (In) / NEQ (NotIn), nc_mask bit = TGD_NS_* index. */
  __u16 nc_mask;
  __u8 cc_op;
  __u8 cc_type;    /* 0 effective, 1 inheritable, 2 permitted */
  __u8 nc_op;
  __u8 pbin_op;    /* matchParentBinaries operator (TGD_OP_NONE: absent), values tagged TGD_TAG_PBIN */
  __u8 bin_follow; /* matchBinaries followChildren: 1 + its bit in tgd_follow_bits (0: none) */
  __u8 pad2;
  struct tgd_int_clause ints[TGD_MAX_INT_CLAUSES];
  struct tgd_str_clause strs[TGD_MAX_STR_CLAUSES];
  struct tgd_ns_clause ns[TGD_MAX_NS_CLAUSES];
  struct tgd_action actions[TGD_MAX_ACTIONS];
  struct tgd_cap_clause more_caps[TGD_MAX_CAP_CLAUSES - 1];
};

/* args[].resolve: a BTF field path from the argument, compiled to member
 * offsets. Start from the argument's value p; for each step p += off[i],
 * then p = *(u64 *)p when bit i of load_mask is set (a pointer member).
 * The argument's type then reads at p (int_at: an integer stored at p).
 * Loads read kernel memory, or user memory when `user` is set. */
#define TGD_RESOLVE_MAX 8
struct tgd_resolve {
  __u16 off[TGD_RESOLVE_MAX];
  __u8 n;          /* 0: no resolve */
  __u8 load_mask;
  __u8 int_at;     /* integers: read d->size bytes at p */
  __u8 user;       /* the path is in user memory (uprobes, usdts: a btfPath type) */
};

/* One policy's compiled form on one hook: held by a config slot
 * (struct tgd_cfg_slot) that tgd_cfg_index[its config index] (dispatch) or
 * tgd_policy_cfgs[policy id] (per-policy loader) refers to. Replaced
 * as a whole: a new slot is written and the reference switched. */
struct tgd_policy_cfg {
  __u32 policy_id;
  __u32 gen;
  __u32 flags;     /* TGD_POLICY_* */
  __u32 hook_id;
  __u8 n_args;
  __u8 n_selectors;
  __u8 ret_flags; /* TGD_RETF_* */
  __u8 ret_copy;  /* entry: 1 + position of the returnCopy argument (its pointer is kept);
                     return: 1 + position of the argument filled from the kept pointer; 0: none */
  __u32 pair_id;  /* return: the policy id of the entry side */
  struct tgd_arg_desc args[TGD_MAX_ARGS];
  struct tgd_selector sel[TGD_MAX_SELECTORS];
  struct tgd_resolve res[TGD_MAX_ARGS];
  __u32 sock_scope; /* the key of the policy's tracked socks in tgd_socktrack: one id for
                       all the hooks of a TracingPolicy (Tetragon's socktrack_map is per policy) */
  __u32 max_data_mask; /* bit a: args[a] has maxData (char_buf, iov_iter) */
};

/* tgd_policy_cfg.ret_flags */
#define TGD_RETF_ENTRY 1  /* entry side of a return probe: a posted event records itself in the task's frame */
#define TGD_RETF_RETURN 2 /* return side: evaluated only for an entry (pair_id) recorded in the popped frame */
#define TGD_RETF_TRACKSOCK 4   /* return side: returnArgAction TrackSock on the returned sock (args[0]) */
#define TGD_RETF_UNTRACKSOCK 8 /* return side: returnArgAction UntrackSock on the returned sock */

/* Entry/return pairing, one mechanism for kretprobes and uretprobes. Every
 * call of a hook flagged TGD_HOOKF_RET_ENTRY pushes a frame on the calling
 * task's stack (depth in tgd_ret_depth, frame at (tid, depth) in
 * tgd_ret_frames), whether or not a policy matches, so nested and recursive
 * calls pair with their own returns. An entry policy whose event was posted
 * adds itself to the frame (with the pointer returnCopy needs). Every
 * return of the paired hook pops the top frame (frames of other hooks left
 * above it by returns that never came are dropped first) and evaluates the
 * return side of each policy recorded in it. Bounded: frames beyond
 * TGD_RET_DEPTH are counted but not stored, and at most TGD_RET_POLICIES
 * policies per frame; a task's stack is deleted when its depth returns to
 * 0 and when the task exits. The frame's ktime is the entry event's ktime:
 * user space merges the entry and return events of (tid, policy, ktime). */
#define TGD_RET_DEPTH 16
#define TGD_RET_POLICIES 8

struct tgd_ret_key {
  __u32 tid;
  __u32 depth; /* 0: the outermost call */
};

struct tgd_ret_saved {
  __u32 policy_id; /* entry side */
  __u32 pad;
  __u64 ptr;       /* returnCopy: the argument's pointer at entry */
  __u64 cnt;       /* returnCopy of char_iovec: the count at entry */
};

struct tgd_ret_frame {
  __u64 ktime;   /* of the entry */
  __u32 hook_id; /* entry hook */
  __u32 n;       /* policies recorded */
  struct tgd_ret_saved p[TGD_RET_POLICIES];
};

/* Key of tgd_run_lists: one list per (hook, cgroup); cgroup 0 holds the
 * hook's unfiltered policies. */
struct tgd_run_key {
  __u32 hook_id;
  __u32 pad;
  __u64 cgroup_id;
};

/* A run list: held by a run-list slot (struct tgd_run_slot). */
#define TGD_RUNF_TRUNCATED (1u << 0) /* more policies apply than the list holds */

/* sel_skip[i]: the selectors of policy[i] that do not apply to this list's
 * cgroup (bit j: selector j), from their matchWorkloads; 0 for a policy
 * without any (the usual case, and what a zeroed list says). */
struct tgd_run_list {
  __u32 n;
  __u32 flags; /* TGD_RUNF_* */
  __u32 policy[TGD_RUN_MAX]; /* config index of each policy (tgd_cfg_index) */
  __u8 sel_skip[TGD_RUN_MAX];
  __u8 gate[TGD_RUN_MAX]; /* TGD_GATE_* of each policy */
  __u32 gate_kinds;       /* bit g: some policy has gate g */
  __u32 ungated;          /* policies with TGD_GATE_NONE */
};

/* Slots: configs and run lists live in ARRAY chunks (inner maps of
 * tgd_cfg_chunks / tgd_run_chunks, added as needed, never removed while the
 * daemon runs). A slot is written only while free; a published reference
 * (tgd_cfg_index / tgd_policy_cfgs / tgd_run_lists value, packed in one
 * u64: slot | seq << 32) names it with the sequence number it was written
 * with. A reader accepts a slot only if it carries the reference's seq and
 * its owner key (a hash element can be reused under a reader); a slot whose
 * reference was switched away returns to the free pool only after an RCU
 * grace period. Chunk sizes are powers of two. */
#define TGD_CFG_CHUNK_SHIFT 8  /* 256 config slots a chunk */
#define TGD_RUN_CHUNK_SHIFT 10 /* 1,024 run-list slots a chunk */
#define TGD_CFG_CHUNK (1u << TGD_CFG_CHUNK_SHIFT)
#define TGD_RUN_CHUNK (1u << TGD_RUN_CHUNK_SHIFT)
#define TGD_SLOT_REF(slot, seq) ((__u64)(slot) | ((__u64)(seq) << 32))

struct tgd_cfg_slot {
  __u32 owner; /* policy id */
  __u32 seq;   /* never 0 for a written slot */
  struct tgd_policy_cfg cfg;
};

struct tgd_run_slot {
  struct tgd_run_key owner;
  __u32 seq; /* never 0 for a written slot */
  __u32 pad;
  struct tgd_run_list list;
};

/* Value-set entries. */
struct tgd_int_key {
  __u32 policy_id;
  __u32 tag;
  __u64 value;
};

struct tgd_str_key {
  __u32 policy_id;
  __u32 tag;
  char s[TGD_STR_MAX];
};

struct tgd_lpm_key {
  __u32 prefixlen; /* 64 + 8 * string length */
  __u32 policy_id;
  __u32 tag;
  char s[TGD_STR_MAX];
};

/* Exec tracker value: the current binary of a thread group. */
struct tgd_exec_path {
  __u32 len;
  __u32 hash; /* tgd_path_hash(path) */
  char path[TGD_STR_MAX];
};

/* A 32-bit hash of a zero-padded TGD_STR_MAX-byte string (FNV-1a over its
 * 64-bit words), computed by the exec tracker once per exec and by user
 * space for every matchBinaries In/NotIn value. It only prefilters: an
 * event looks up (policy, TGD_TAG_BIN_HASH clause, hash) in tgd_int_values
 * (a 16-byte key) and confirms a hit with the exact 248-byte string lookup,
 * so a collision costs a second lookup, never a wrong answer. */
static inline __u32 tgd_path_hash(const void *s) {
  const __u64 *words = (const __u64 *)s; /* 8-byte aligned */
  __u64 h = 0xcbf29ce484222325ULL;
#ifdef __bpf__
#pragma unroll
#endif
  for (int i = 0; i < TGD_STR_MAX / 8; i++) {
    h ^= words[i];
    h *= 0x100000001b3ULL;
  }
  return (__u32)(h ^ (h >> 32));
}
/* Credentials and namespaces of a thread group at its exec (or its parent's
 * at fork), what matchCapabilityChanges / matchNamespaceChanges compare the
 * current ones with. Refreshed when a change selector matched (as Tetragon:
 * a change is reported once). */
#define TGD_NS_COUNT 10
struct tgd_exec_creds {
  __u64 caps[3]; /* effective, inheritable, permitted (cap_type order) */
  __u32 ns[TGD_NS_COUNT];
};

/* Per-hook counters (per-CPU; summed by user space). */
struct tgd_hook_stats {
  __u64 runs;           /* events with at least one applicable policy */
  __u64 tail_call_fail; /* the tail call to the policy program failed */
  __u64 evaluated;      /* policy evaluations */
  __u64 posted;         /* events posted */
  __u64 lost;           /* events lost: ring buffer full */
  __u64 actions;        /* signals sent */
  __u64 monitor_actions;/* signals suppressed by monitor mode */
  __u64 truncated_lists;/* events whose run list was cut at TGD_RUN_MAX (workload changes) */
  __u64 scratch_busy;   /* evaluations skipped: every scratch slot of the CPU in use */
  __u64 rate_limited;   /* matching events not posted: within their Post's rateLimit */
  __u64 gated;          /* evaluations (counted in evaluated) decided by a gate: no match, nothing read */
};

/* Key of tgd_rate_limits: a rate-limited Post's policy, selector and action,
 * its scope (thread id, process id or 0) and the first bytes of each
 * argument; the value is the time of the last posted event. */
struct tgd_rate_key {
  __u32 policy_id;
  __u16 sel;
  __u16 action;
  __u64 scope_id;
  char data[TGD_MAX_ARGS * TGD_RATE_BYTES_PER_ARG];
};

/* One policy entry's counters (tgd_policy_counters[policy id]): the fields
 * of Tetragon's per-policy stats, added atomically by the datapath (only on
 * matches, so one shared value per policy is enough at any CPU count). */
struct tgd_policy_counters {
  __u64 posted;
  __u64 lost;              /* matched, not posted: ring buffer full */
  __u64 signals;           /* Sigkill/Signal sent */
  __u64 monitor_signals;   /* Sigkill/Signal not sent: monitor mode */
  __u64 overrides;         /* Override (LSM denial) applied */
  __u64 monitor_overrides; /* Override not applied: monitor mode */
};

/* Per-CPU scratch slots for evaluation (claimed with a compare-and-swap, so
 * a program preempted mid-evaluation keeps its slot and the next program on
 * that CPU takes another). Posted events are copied to the ring buffer. */
#define TGD_SCRATCH_SLOTS 4

/* The policy event record on the ring buffer. */
#define TGD_EV_POLICY 10

/* Buffers beyond the event record: data-chunk records and their
 * descriptors (TGD_EV_DATA, struct tgd_data_desc). */
#include "bpf/dispatch/data_chunks_abi.h"

#define TGD_EVF_MONITOR (1u << 0)   /* the action was not enforced (monitor mode) */
#define TGD_EVF_SIGNAL_FAILED (1u << 1)
#define TGD_EVF_KSTACK (1u << 2)    /* a kernel stack was asked for: kernel_stack_id (id or -errno) */
#define TGD_EVF_USTACK (1u << 3)    /* a user stack was asked for: user_stack_id (id or -errno) */
#define TGD_EVF_RETURN (1u << 4)    /* a return probe's event: ktime is its entry's */
#define TGD_EVF_RET_ENTRY (1u << 5) /* an entry event that waits for its return event */
#define TGD_EVF_SEL_SHIFT 8         /* bits 8-10: the matching selector (user-space actions read its arguments) */
#define TGD_EVF_SEL_MASK 7u

/* sock, socket, skb: Tetragon's tuple and the fields it reports. Addresses
 * in network order (IPv4 in the first 4 bytes), ports in host order. */
struct tgd_net_val {
  __u16 family;
  __u16 type;
  __u16 protocol;
  __u8 state;
  __u8 pad0;
  __u16 sport;
  __u16 dport;
  __u32 mark;
  __u32 priority;
  __u32 hash;   /* skb */
  __u32 len;    /* skb */
  __u32 secpath_len;
  __u32 secpath_olen;
  __u32 pad1;
  __u64 cookie; /* sock: its kernel address, as Tetragon's */
  __u8 saddr[16];
  __u8 daddr[16];
};

struct tgd_userns_val {
  __s32 level;
  __u32 uid;  /* owner */
  __u32 gid;  /* group */
  __u32 inum;
};

struct tgd_cred_val {
  __u32 uid, gid, suid, sgid, euid, egid, fsuid, fsgid;
  __u32 securebits;
  __u32 pad;
  __u64 cap_permitted, cap_effective, cap_inheritable;
  struct tgd_userns_val userns;
};

/* bpf_attr, bpf_prog, bpf_map, perf_event, module, load_info. */
#define TGD_KOBJ_NAME 128
struct tgd_kobj_val {
  __u32 type;        /* prog, map or perf event type */
  __u32 count;       /* instructions */
  __u32 key_size, value_size, max_entries;
  __u32 sig_ok;      /* load_info: 1 signature ok, 0 not, 2 unknown */
  __u64 config, probe_offset;
  __u64 taints;
  char name[TGD_KOBJ_NAME]; /* prog/map/module name, perf event kprobe function */
};

struct tgd_arg_val {
  __u32 type;  /* TGD_ARG_* (0: not read) */
  __u32 len;   /* strings, paths, buffers: bytes copied (strings without the NUL); read error as 0 */
  __u32 flags; /* path-like: TGD_PATHF_*; buffers: original length */
  __u16 mode;  /* path-like: the inode's i_mode; buffers: -TGD_BUFERR_* (0: read) */
  __u16 pad;
  union {
    __s64 s64;
    __u64 u64;
    char str[TGD_STR_MAX];
    struct tgd_net_val net;
    struct tgd_cred_val cred;
    struct tgd_userns_val userns;
    struct tgd_kobj_val kobj;
  };
};

/* Where an argument value came from: its descriptor and resolve path. Two
 * arguments with equal sources read the same value within one event. */
struct tgd_arg_src {
  struct tgd_arg_desc d;
  struct tgd_resolve r;
};

/* What the evaluation of one event has already looked up, shared by every
 * policy evaluated for the event (scratch of the event record, not sent):
 * the evaluator reads an argument only when no earlier policy of the event
 * read one of the same source (have[]), and looks the exec tracker up once.
 * Reset when the event's scratch slot is claimed. The selectors and actions
 * never write ev->args, so a value stays valid for the later policies. */
#define TGD_EXE_UNKNOWN 0 /* not looked up yet */
#define TGD_EXE_FOUND 1
#define TGD_EXE_ABSENT 2
struct tgd_eval_memo {
  __u32 have_mask; /* bit a: args[a] holds the value of source have[a] */
  __u32 exe_state; /* TGD_EXE_* */
  __u32 exe_hash;  /* TGD_EXE_FOUND: tgd_exec_path.hash */
  __u32 typed_mask; /* bit a: args[a].type may be set (0: every position is empty) */
  __u32 pid_swapped; /* pid/tid are a tracked socket's owner's (TrackSock), not the task's */
  __u32 sock_scope;  /* the evaluated policy's tgd_policy_cfg.sock_scope (TrackSock keys) */
  __u32 big_mask;   /* bit a: args[a] is a buffer longer than its inline bytes; its source is in bufs[a] */
  __u32 pad;
  struct tgd_arg_src have[TGD_MAX_ARGS];
};

struct tgd_policy_event {
  __u32 op;       /* TGD_EV_POLICY */
  __u32 policy_id;
  __u32 hook_id;
  __u32 action;   /* TGD_ACT_* of the last action run (as Tetragon) */
  __u32 flags;    /* TGD_EVF_* */
  __u32 pid;      /* tgid */
  __u32 tid;
  __u32 n_args;
  __u64 ktime;
  __u64 cgroup_id;
  struct tgd_arg_val args[TGD_MAX_ARGS];
  /* Stack ids in tgd_stacks (an id is valid only with its TGD_EVF_*STACK
   * flag; 0 is a valid id) or -errno of bpf_get_stackid. */
  __s32 kernel_stack_id;
  __s32 user_stack_id;
  __u64 data_id; /* chunk records of this event carry it (0: none) */
  struct tgd_data_desc data[TGD_MAX_ARGS];
  /* Scratch for lookups, not sent to user space (TGD_EVENT_WIRE_SIZE). */
  struct tgd_lpm_key key;
  char rev[TGD_STR_MAX];
  struct tgd_rate_key rate;
  struct tgd_eval_memo memo;
  struct tgd_exec_creds creds; /* lineage.bpf.h: a record being made */
  struct tgd_buf_src bufs[TGD_MAX_ARGS];
};

/* Bytes of a tgd_policy_event that reach user space. */
#define TGD_EVENT_WIRE_SIZE (48 + TGD_MAX_ARGS * (16 + TGD_STR_MAX) + 16 + 8 * TGD_MAX_ARGS)

#ifdef __cplusplus
static_assert(offsetof(struct tgd_policy_event, key) == TGD_EVENT_WIRE_SIZE, "wire size");
static_assert(offsetof(struct tgd_policy_event, kernel_stack_id) == 48 + TGD_MAX_ARGS * (16 + TGD_STR_MAX),
              "stack ids follow the args");
static_assert(sizeof(struct tgd_arg_desc) == 12, "tgd_arg_desc");
static_assert(sizeof(struct tgd_data_chunk_hdr) == 24, "tgd_data_chunk_hdr");
static_assert(offsetof(struct tgd_policy_event, data_id) == 48 + TGD_MAX_ARGS * (16 + TGD_STR_MAX) + 8, "data_id");
static_assert(sizeof(struct tgd_resolve) == 20, "tgd_resolve");
static_assert(sizeof(struct tgd_arg_src) == 32, "tgd_arg_src: compared as 8 words");
static_assert(offsetof(struct tgd_policy_event, memo) % 8 == 0, "tgd_eval_memo alignment");
static_assert(sizeof(struct tgd_selector) == 40 + 24 * TGD_MAX_INT_CLAUSES + 4 * TGD_MAX_STR_CLAUSES +
                                                 4 * TGD_MAX_NS_CLAUSES + 16 * TGD_MAX_ACTIONS +
                                                 16 * (TGD_MAX_CAP_CLAUSES - 1),
              "tgd_selector");
static_assert(sizeof(struct tgd_run_key) == 16, "tgd_run_key");
static_assert(offsetof(struct tgd_policy_cfg, pair_id) == 20, "tgd_policy_cfg ret fields in the old padding");
static_assert(offsetof(struct tgd_policy_cfg, args) == 24, "tgd_policy_cfg args");
static_assert(sizeof(struct tgd_ret_frame) == 16 + 24 * TGD_RET_POLICIES, "tgd_ret_frame");
static_assert(offsetof(struct tgd_cfg_slot, cfg) == 8, "tgd_cfg_slot");
static_assert(offsetof(struct tgd_run_slot, list) == 24, "tgd_run_slot");
static_assert(sizeof(struct tgd_run_list) == 16 + 6 * TGD_RUN_MAX, "tgd_run_list");
static_assert(sizeof(struct tgd_lpm_key) == 252, "tgd_lpm_key");
static_assert(sizeof(struct tgd_action) == 16, "tgd_action");
static_assert(sizeof(struct tgd_sock_key) == 16, "tgd_sock_key");
static_assert(sizeof(struct tgd_policy_counters) == 48, "tgd_policy_counters");
static_assert(sizeof(struct tgd_rate_key) == 16 + TGD_MAX_ARGS * TGD_RATE_BYTES_PER_ARG, "tgd_rate_key");
static_assert(sizeof(struct tgd_arg_val) == 16 + TGD_STR_MAX, "tgd_arg_val");
static_assert(sizeof(struct tgd_net_val) == 80, "tgd_net_val");
static_assert(sizeof(struct tgd_cred_val) == 80, "tgd_cred_val");
static_assert(sizeof(struct tgd_exec_creds) == 64, "tgd_exec_creds");
static_assert(offsetof(struct tgd_arg_val, str) == 16, "tgd_arg_val header");
#else
_Static_assert(sizeof(struct tgd_arg_desc) == 12, "tgd_arg_desc");
_Static_assert(sizeof(struct tgd_data_chunk_hdr) == 24, "tgd_data_chunk_hdr");
_Static_assert(__builtin_offsetof(struct tgd_policy_event, key) == TGD_EVENT_WIRE_SIZE, "wire size");
_Static_assert(sizeof(struct tgd_arg_src) == 32, "tgd_arg_src: compared as 8 words");
_Static_assert(__builtin_offsetof(struct tgd_policy_event, memo) % 8 == 0, "tgd_eval_memo alignment");
_Static_assert(sizeof(struct tgd_arg_val) == 16 + TGD_STR_MAX, "tgd_arg_val");
_Static_assert(sizeof(struct tgd_net_val) == 80, "tgd_net_val");
_Static_assert(sizeof(struct tgd_run_key) == 16, "tgd_run_key");
_Static_assert(__builtin_offsetof(struct tgd_policy_cfg, args) == 24, "tgd_policy_cfg args");
_Static_assert(sizeof(struct tgd_ret_frame) == 16 + 24 * TGD_RET_POLICIES, "tgd_ret_frame");
_Static_assert(__builtin_offsetof(struct tgd_cfg_slot, cfg) == 8, "tgd_cfg_slot");
_Static_assert(__builtin_offsetof(struct tgd_run_slot, list) == 24, "tgd_run_slot");
_Static_assert(sizeof(struct tgd_run_list) == 16 + 6 * TGD_RUN_MAX, "tgd_run_list");
_Static_assert(sizeof(struct tgd_lpm_key) == 252, "tgd_lpm_key");
_Static_assert(sizeof(struct tgd_action) == 16, "tgd_action");
_Static_assert(sizeof(struct tgd_rate_key) == 16 + TGD_MAX_ARGS * TGD_RATE_BYTES_PER_ARG, "tgd_rate_key");
#endif

#endif /* TGDISPATCH_BPF_DISPATCH_DISPATCH_ABI_H_ */
