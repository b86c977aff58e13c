/* Argument reading: one argument of a tracepoint, raw tracepoint, kprobe
 * or LSM hook into the event, and the per-hook-kind bpf_loop steps that read
 * a policy's arguments. Part of eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_ARGS_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_ARGS_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/arg_readers.bpf.h"
#include "bpf/dispatch/hook.bpf.h"

/* The raw 8-byte slot at `loc` of the hook's context: a tracepoint field at
 * offset `loc` (`size` bytes), a raw tracepoint / LSM argument or a kprobe
 * function argument of index `loc`. `kind` is a compile-time constant. */
static __always_inline __u64 read_slot(void *ctx, int kind, __u8 src, __u32 loc, __u8 size) {
  __u64 raw = 0;
  if (kind == TGD_HOOK_TRACEPOINT) {
    __u32 off = loc & 0xfff;
    if (size == 1) {
      bpf_probe_read_kernel(&raw, 1, (char *)ctx + off);
    } else if (size == 2) {
      bpf_probe_read_kernel(&raw, 2, (char *)ctx + off);
    } else if (size == 4) {
      bpf_probe_read_kernel(&raw, 4, (char *)ctx + off);
    } else {
      bpf_probe_read_kernel(&raw, 8, (char *)ctx + off);
    }
  } else if (kind == TGD_HOOK_RAW_TP || kind == TGD_HOOK_LSM) {
    __u32 idx = loc & 15;
    bpf_probe_read_kernel(&raw, 8, (char *)ctx + 8 * idx);
  } else {
    struct pt_regs *regs = ctx;
    if (src == TGD_SRC_CURRENT_TASK) { /* data: a resolve path from the task */
      raw = bpf_get_current_task();
    } else if (src == TGD_SRC_PT_REGS) { /* data: a register, by its offset in pt_regs */
      if (loc <= sizeof(struct pt_regs) - 8) bpf_probe_read_kernel(&raw, sizeof(raw), (char *)regs + loc);
    } else if (src == TGD_SRC_RET) { /* return probe: the return value */
      raw = PT_REGS_RC(regs);
    } else if (src == TGD_SRC_REG + 1) { /* syscall wrapper: arguments in the inner pt_regs */
      regs = (struct pt_regs *)PT_REGS_PARM1(regs);
      switch (loc) {
        case 0: raw = PT_REGS_PARM1_CORE_SYSCALL(regs); break;
        case 1: raw = PT_REGS_PARM2_CORE_SYSCALL(regs); break;
        case 2: raw = PT_REGS_PARM3_CORE_SYSCALL(regs); break;
        case 3: raw = PT_REGS_PARM4_CORE_SYSCALL(regs); break;
        case 4: raw = PT_REGS_PARM5_CORE_SYSCALL(regs); break;
      }
    } else {
      switch (loc) {
        case 0: raw = PT_REGS_PARM1(regs); break;
        case 1: raw = PT_REGS_PARM2(regs); break;
        case 2: raw = PT_REGS_PARM3(regs); break;
        case 3: raw = PT_REGS_PARM4(regs); break;
        case 4: raw = PT_REGS_PARM5(regs); break;
      }
    }
  }
  return raw;
}

/* TGD_SYSCALL64_32BIT when the current task is in a 32-bit syscall (x86's
 * TS_COMPAT in thread_info.status, as Tetragon reads it), else 0. Kernels
 * whose thread_info has no status (other architectures) give 0. */
#define TGD_TS_COMPAT 0x0002
static __always_inline __u64 tgd_syscall_32bit(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  if (!bpf_core_field_exists(t->thread_info.status)) return 0;
  __u32 status = BPF_CORE_READ(t, thread_info.status);
  return (status & TGD_TS_COMPAT) ? TGD_SYSCALL64_32BIT : 0;
}

/* Follows an args[].resolve path from p (see struct tgd_resolve). */
struct resolve_walk {
  struct tgd_resolve *r;
  __u64 p;
};

static long resolve_step(__u32 i, void *data) {
  struct resolve_walk *w = data;
  struct tgd_resolve *r = w->r;
  if (!r || i >= r->n || i >= TGD_RESOLVE_MAX) return 1;
  __u32 at = i & (TGD_RESOLVE_MAX - 1);
  w->p += r->off[at];
  if (r->load_mask & (1u << at)) {
    __u64 next = 0;
    long err = r->user ? bpf_probe_read_user(&next, sizeof(next), (void *)w->p)
                       : bpf_probe_read_kernel(&next, sizeof(next), (void *)w->p);
    if (err != 0 || next == 0) {
      w->p = 0;
      return 1;
    }
    w->p = next;
  }
  return 0;
}

/* Follows res from p; returns the address (or pointer) it ends on, or the
 * integer of `size` bytes stored there (res->int_at). A global function:
 * verified once, not once per path of each evaluator. */
__noinline __u64 tgd_resolve(struct tgd_resolve *res, __u64 p, __u32 size) {
  if (!res) return 0;
  struct resolve_walk w = {.r = res, .p = p};
  bpf_loop(TGD_RESOLVE_MAX, resolve_step, &w, 0);
  __u64 raw = w.p;
  if (res->int_at && raw) {
    __u64 x = 0;
    __u32 n = size == 1 ? 1 : size == 2 ? 2 : size == 4 ? 4 : 8;
    if (res->user) bpf_probe_read_user(&x, n, (void *)raw);
    else bpf_probe_read_kernel(&x, n, (void *)raw);
    raw = x;
  }
  return raw;
}

/* A USDT argument (TGD_SRC_USDT) given the register its spec names (`reg`)
 * and, for an operand with an index register, that register (`idx`): the
 * register, user memory at it plus a displacement (plus the index register
 * scaled), or a constant, extended from the note's operand size. A global
 * function: verified once. */
__noinline __u64 tgd_usdt_arg(__u64 reg, __u64 idx, __u32 spec, __u32 value) {
  __u32 kind = TGD_USDT_KIND(spec);
  __u32 size = 1u << TGD_USDT_SIZE_LOG2(spec);
  __u64 x = 0;
  if (kind == 3) {
    x = (__u64)(__s64)(__s32)value;
  } else {
    if (kind == 1) {
      x = reg;
    } else if (kind == 2) {
      __u64 a = TGD_USDT_SIB(spec) ? reg + (idx << TGD_USDT_SCALE_LOG2(spec)) + (__s64)TGD_USDT_SIB_DISP(value)
                                   : reg + (__s64)(__s32)value;
      void *at = (void *)a;
      if (size == 1) bpf_probe_read_user(&x, 1, at);
      else if (size == 2) bpf_probe_read_user(&x, 2, at);
      else if (size == 4) bpf_probe_read_user(&x, 4, at);
      else bpf_probe_read_user(&x, 8, at);
    }
  }
  if (size < 8) {
    __u32 shift = 64 - 8 * size;
    x = TGD_USDT_SIGNED(spec) ? (__u64)(((__s64)(x << shift)) >> shift) : (x << shift) >> shift;
  }
  return x;
}

/* What read_arg saw of a buffer argument: where to read it again at post
 * time (tgd_arg_done keeps it in ev->bufs). */
struct tgd_raw_src {
  __u64 raw;
  __u64 size_raw;
  __u32 aux;
  __u32 from; /* 1 + the position the value was copied from (read once), 0: read here */
};

/* Reads argument `d` of the hook into `v` (and, for a buffer, where the
 * rest of it is into `b`). `kind` is a compile-time constant. */
static __always_inline void read_arg(void *ctx, int kind, struct tgd_arg_desc *d, struct tgd_arg_val *v,
                                     struct tgd_resolve *res, struct tgd_raw_src *rs) {
  __u64 raw = 0;
  __u8 type = d->type;
  __u32 loc = kind == TGD_HOOK_TRACEPOINT ? d->offset : d->index;
  if (kind == TGD_HOOK_TRACEPOINT && type == TGD_ARG_DATA_LOC_STR) {
    __u32 dl = 0;
    bpf_probe_read_kernel(&dl, sizeof(dl), (char *)ctx + (d->offset & 0xfff));
    raw = (__u64)((char *)ctx + (dl & 0xffff));
  } else if (kind == TGD_HOOK_TRACEPOINT && type == TGD_ARG_INLINE_STR) {
    raw = (__u64)((char *)ctx + (d->offset & 0xfff));
  } else {
    if (kind == TGD_HOOK_KPROBE && d->src == TGD_SRC_USDT) {
      __u32 off = TGD_USDT_REG_OFF(d->index);
      __u32 value = (__u32)d->offset | ((__u32)d->size_loc << 16);
      /* The index register is read unconditionally (branch-free: fewer
       * verifier paths); without one, its slot is the base register's. */
      __u32 ioff = TGD_USDT_SIB(d->index) ? TGD_USDT_SIB_IDX_OFF(value) : off;
      __u64 regs[2] = {};
      bpf_probe_read_kernel(&regs[0], 8, (char *)ctx + (off & 0xff));
      bpf_probe_read_kernel(&regs[1], 8, (char *)ctx + (ioff & 0xff));
      raw = tgd_usdt_arg(regs[0], regs[1], d->index, value);
    } else {
      raw = read_slot(ctx, kind, d->src, loc, type == TGD_ARG_INT && !(res && res->n) ? d->size : 8);
    }
    if (res && res->n) raw = tgd_resolve(res, raw, d->size);
  }
  if (type >= TGD_ARG_FILE) {
    __u64 size_raw = 0;
    if ((type == TGD_ARG_USER_BUF || type == TGD_ARG_KERNEL_BUF) && d->size_loc != 0xffff) {
      size_raw = read_slot(ctx, kind, d->src, d->size_loc, d->is_signed);
    } else if (type == TGD_ARG_IOVEC) {
      size_raw = read_slot(ctx, kind, d->src, d->size_loc, d->size);
    }
    __u32 aux = type == TGD_ARG_SOCKADDR || type == TGD_ARG_SOCKADDR_UN || type == TGD_ARG_IOVEC ? d->is_signed : (d->size_loc == 0xffff ? d->size : 0);
    tgd_read_object(type, raw, size_raw, aux, v);
    rs->raw = raw;
    rs->size_raw = size_raw;
    rs->aux = aux;
    return;
  }
  v->type = type;
  v->len = 0;
  v->flags = 0;
  v->mode = 0;
  if (type == TGD_ARG_INT) {
    __u8 size = d->size;
    if (d->is_signed) {
      if (size == 1) raw = (__u64)(__s64)(__s8)raw;
      else if (size == 2) raw = (__u64)(__s64)(__s16)raw;
      else if (size == 4) raw = (__u64)(__s64)(__s32)raw;
    } else {
      if (size == 1) raw &= 0xff;
      else if (size == 2) raw &= 0xffff;
      else if (size == 4) raw &= 0xffffffff;
    }
    if (kind == TGD_HOOK_TRACEPOINT && d->is_signed == TGD_INT_SYSCALL64) raw |= tgd_syscall_32bit();
    v->u64 = raw;
    return;
  }
  __builtin_memset(v->str, 0, TGD_STR_MAX);
  long n;
  if (type == TGD_ARG_STR_USER)
    n = bpf_probe_read_user_str(v->str, TGD_STR_MAX, (void *)raw);
  else
    n = bpf_probe_read_kernel_str(v->str, TGD_STR_MAX, (void *)raw);
  v->len = n > 0 ? (__u32)(n - 1) : 0;
}

/* Read once per event: whether two argument sources are the same (their
 * descriptors and resolve paths, as 8 words). */
static __always_inline int arg_src_equal(const struct tgd_arg_src *a, const struct tgd_arg_desc *d,
                                         const struct tgd_resolve *r) {
  const __u32 *x = (const __u32 *)a;
  const __u32 *yd = (const __u32 *)d;
  const __u32 *yr = (const __u32 *)r;
  return x[0] == yd[0] && x[1] == yd[1] && x[2] == yd[2] && x[3] == yr[0] && x[4] == yr[1] && x[5] == yr[2] &&
         x[6] == yr[3] && x[7] == yr[4];
}

/* The position of ev->args that already holds the value of source (d, r)
 * for this event (`prefer` checked first), or -1. A global function: the
 * verifier checks its compares once, apart from every evaluator's paths. */
__noinline int tgd_arg_read_at(struct tgd_eval_memo *m, const struct tgd_arg_desc *d, const struct tgd_resolve *r,
                               __u32 prefer) {
  if (!m || !d || !r) return -1;
  __u32 have = m->have_mask;
  if (prefer < TGD_MAX_ARGS && (have & (1u << prefer)) && arg_src_equal(&m->have[prefer], d, r)) return prefer;
  for (int j = 0; j < TGD_MAX_ARGS; j++)
    if ((have & (1u << j)) && arg_src_equal(&m->have[j], d, r)) return j;
  return -1;
}

/* Reads the policy's arguments, one bpf_loop step each (the verifier checks
 * one step, not every combination of argument kinds). One step function per
 * hook kind, since each reads its own context. An argument that an earlier
 * policy of the event read from the same source is not read again: kept in
 * place, or copied from the position that holds it (ev->memo). */
struct args_ctx {
  void *ctx;
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
  __u32 n; /* the policy's arguments; positions from n on are cleared */
};

/* After position a was read (or copied): a buffer keeps where it is to be
 * read again at post time (ev->bufs[a]), and is marked in memo.big_mask
 * when longer than its inline bytes and read without error (its post sends
 * the rest, data_chunks.bpf.h). A global function: verified once, not once
 * per path of the argument readers. */
__noinline int tgd_arg_done(struct tgd_policy_event *ev, __u32 a, struct tgd_raw_src *rs) {
  if (!ev || !rs) return 0;
  TGD_MASK(a, 7);
  if (a >= TGD_MAX_ARGS) return 0;
  struct tgd_arg_val *v = &ev->args[a];
  __u32 type = v->type;
  ev->memo.big_mask &= ~(1u << a);
  if (!tgd_arg_is_buffer(type)) return 0;
  struct tgd_buf_src *b = &ev->bufs[a];
  __u32 from = rs->from;
  if (from) {
    from = (from - 1) & 7;
    if (from >= TGD_MAX_ARGS) return 0;
    __builtin_memcpy(b, &ev->bufs[from], sizeof(*b));
  } else {
    b->ptr = rs->raw;
    b->cnt = type == TGD_ARG_IOVEC ? rs->size_raw : v->flags;
    b->user = type == TGD_ARG_USER_BUF || type == TGD_ARG_IOV_ITER || (type == TGD_ARG_IOVEC && (rs->aux & 1));
  }
  if (v->flags > TGD_STR_MAX && v->mode == 0) ev->memo.big_mask |= 1u << a;
  return 0;
}

static __always_inline void read_arg_once(void *ctx, int kind, struct tgd_policy_cfg *cfg,
                                          struct tgd_policy_event *ev, __u32 a) {
  TGD_MASK(a, 7);
  if (a >= TGD_MAX_ARGS) return;
  struct tgd_arg_desc *d = &cfg->args[a];
  struct tgd_resolve *r = &cfg->res[a];
  struct tgd_eval_memo *m = &ev->memo;
  int j = tgd_arg_read_at(m, d, r, a);
  if (j == (int)a) return;
  struct tgd_raw_src rs = {};
  if (j >= 0 && j < TGD_MAX_ARGS) {
    __u32 from = j;
    TGD_MASK(from, 7);
    if (from >= TGD_MAX_ARGS) return;
    __builtin_memcpy(&ev->args[a], &ev->args[from], sizeof(struct tgd_arg_val));
    rs.from = from + 1;
  } else {
    read_arg(ctx, kind, d, &ev->args[a], r, &rs);
  }
  tgd_arg_done(ev, a, &rs);
  __builtin_memcpy(&m->have[a].d, d, sizeof(*d));
  __builtin_memcpy(&m->have[a].r, r, sizeof(*r));
  m->have_mask |= 1u << a;
  m->typed_mask |= 1u << a;
}

static __always_inline void clear_arg(struct tgd_policy_event *ev, __u32 a) {
  TGD_MASK(a, 7);
  if (a >= TGD_MAX_ARGS) return;
  ev->args[a].type = 0;
  ev->memo.have_mask &= ~(1u << a);
  ev->memo.typed_mask &= ~(1u << a);
  ev->memo.big_mask &= ~(1u << a);
}

#define DEFINE_ARG_READER(suffix, kind)                                   \
  static long read_arg_step_##suffix(__u32 a, void *data) {               \
    struct args_ctx *ac = data;                                           \
    if (a >= TGD_MAX_ARGS || !ac->cfg || !ac->ev) return 1;               \
    if (a >= ac->n) {                                                     \
      clear_arg(ac->ev, a);                                               \
      return 0;                                                           \
    }                                                                     \
    read_arg_once(ac->ctx, kind, ac->cfg, ac->ev, a);                     \
    return 0;                                                             \
  }

DEFINE_ARG_READER(tp, TGD_HOOK_TRACEPOINT)
DEFINE_ARG_READER(rawtp, TGD_HOOK_RAW_TP)
DEFINE_ARG_READER(kprobe, TGD_HOOK_KPROBE)
DEFINE_ARG_READER(lsm, TGD_HOOK_LSM)

/* The step function of a hook kind (a compile-time constant). */
#define ARG_READER(kind)                                                     \
  ((kind) == TGD_HOOK_TRACEPOINT ? read_arg_step_tp                          \
   : (kind) == TGD_HOOK_RAW_TP   ? read_arg_step_rawtp                       \
   : (kind) == TGD_HOOK_KPROBE   ? read_arg_step_kprobe                      \
                                 : read_arg_step_lsm)

#endif /* TGDISPATCH_BPF_DISPATCH_ARGS_BPF_H_ */
