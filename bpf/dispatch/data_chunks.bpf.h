/* Buffers longer than the event record (dispatch_abi.h "Buffers beyond the
 * event record"): when an event is posted, each buffer argument longer than
 * its TGD_STR_MAX inline bytes is read again, as far as Tetragon would report
 * it, straight into chunk records reserved on the ring buffer before the
 * event record. Evaluations that post nothing, and events without such a
 * buffer, never come here. Part of eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_DATA_CHUNKS_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_DATA_CHUNKS_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/arg_readers.bpf.h"

/* Sends one buffer's bytes from `src` as chunks. */
struct data_walk {
  __u64 src;
  __u64 id;
  __u32 want; /* bytes to send */
  __u32 off;  /* bytes sent */
  __u32 user;
  __u32 arg;
  __u32 fail; /* TGD_DATAF_* of the first failure */
};

/* One chunk of n bytes at w->off, in a record of `size` bytes of data. */
#define TGD_DATA_SEND(rec_type, size)                                                    \
  do {                                                                                   \
    rec_type *c = bpf_ringbuf_reserve(&tgd_events, sizeof(rec_type), 0);                 \
    if (!c) {                                                                            \
      w->fail = TGD_DATAF_LOST;                                                          \
      return 1;                                                                          \
    }                                                                                    \
    __u32 m = n & 0xffff;                                                                \
    if (m > (size)) m = (size);                                                          \
    long err = w->user ? bpf_probe_read_user(c->data, m, (void *)src)                    \
                       : bpf_probe_read_kernel(c->data, m, (void *)src);                 \
    if (err != 0) {                                                                      \
      bpf_ringbuf_discard(c, BPF_RB_NO_WAKEUP);                                          \
      w->fail = TGD_DATAF_PAGEFAULT;                                                     \
      return 1;                                                                          \
    }                                                                                    \
    c->h.op = TGD_EV_DATA;                                                               \
    c->h.arg = w->arg;                                                                   \
    c->h.pad = 0;                                                                        \
    c->h.id = w->id;                                                                     \
    c->h.offset = w->off;                                                                \
    c->h.len = m;                                                                        \
    bpf_ringbuf_submit(c, BPF_RB_NO_WAKEUP);                                             \
    w->off += m;                                                                         \
  } while (0)

static __always_inline long tgd_data_send(struct data_walk *w, __u64 src, __u32 n) {
  if (n == 0) return 0;
  if (n <= TGD_DATA_SMALL)
    TGD_DATA_SEND(struct tgd_data_chunk_small, TGD_DATA_SMALL);
  else
    TGD_DATA_SEND(struct tgd_data_chunk, TGD_DATA_CHUNK);
  return 0;
}

/* A contiguous buffer: chunk i covers [i * TGD_DATA_CHUNK, ...). */
static long tgd_data_step(__u32 i, void *data) {
  struct data_walk *w = data;
  if (w->off >= w->want) return 1;
  __u32 n = w->want - w->off;
  if (n > TGD_DATA_CHUNK) n = TGD_DATA_CHUNK;
  return tgd_data_send(w, w->src + w->off, n);
}

/* char_iovec: one chunk per iovec (each at most TGD_IOVEC_ENTRY_MAX bytes,
 * or the reader made the argument an error). */
static long tgd_data_iovec_step(__u32 i, void *data) {
  struct data_walk *w = data;
  if (w->off >= w->want) return 1;
  struct iovec io = {};
  const struct iovec *at = (const struct iovec *)w->src + i;
  if ((w->user ? bpf_probe_read_user(&io, sizeof(io), at) : bpf_probe_read_kernel(&io, sizeof(io), at)) != 0) {
    w->fail = TGD_DATAF_PAGEFAULT;
    return 1;
  }
  __u64 n = io.iov_len;
  if (n > w->want - w->off) n = w->want - w->off;
  if (n > TGD_IOVEC_ENTRY_MAX) n = TGD_IOVEC_ENTRY_MAX;
  return tgd_data_send(w, (__u64)io.iov_base, (__u32)n);
}

/* Sends the buffer at position a, as far as Tetragon reports it:
 * char_iovec: all it joined; char_buf and iov_iter: TGD_BUF_DEFAULT bytes,
 * or with maxData (bit a of max_data_mask) a buffer of TGD_BUF_MAXDATA_MIN
 * bytes or more up to TGD_DATA_MAX (Tetragon's data events: a failed read
 * there loses the argument, not a page-fault error). */
__noinline int tgd_post_one(struct tgd_policy_event *ev, __u32 a, __u32 max_data_mask, __u64 id) {
  if (!ev) return 0;
  TGD_MASK(a, 7);
  if (a >= TGD_MAX_ARGS) return 0;
  struct tgd_arg_val *v = &ev->args[a];
  struct tgd_buf_src *b = &ev->bufs[a];
  struct tgd_data_desc *desc = &ev->data[a];
  __u32 type = v->type;
  __u32 orig = v->flags;
  struct data_walk w = {.src = b->ptr, .id = id, .user = b->user, .arg = a};
  int data_events = 0;
  if (type == TGD_ARG_IOVEC) {
    w.want = orig;
    bpf_loop(b->cnt > TGD_IOVEC_ENTRIES ? TGD_IOVEC_ENTRIES : b->cnt, tgd_data_iovec_step, &w, 0);
  } else {
    if (type == TGD_ARG_IOV_ITER) {
      __u64 count = 0;
      w.src = (__u64)tgd_iov_iter_buf((struct iov_iter *)b->ptr, &count);
      w.user = 1;
    }
    data_events = (max_data_mask & (1u << a)) && orig >= TGD_BUF_MAXDATA_MIN;
    w.want = data_events ? (orig > TGD_DATA_MAX ? TGD_DATA_MAX : orig) : (orig > TGD_BUF_DEFAULT ? TGD_BUF_DEFAULT : orig);
    bpf_loop(TGD_DATA_CHUNKS, tgd_data_step, &w, 0);
  }
  if (w.fail == TGD_DATAF_PAGEFAULT && data_events) w.fail = TGD_DATAF_LOST;
  desc->sent = w.off;
  desc->flags = w.fail;
  return 0;
}

/* Writes the chunks of every long buffer of a posted event and its
 * descriptors (ev->data_id, ev->data). A global function: verified once. */
__noinline int tgd_post_data(struct tgd_policy_event *ev, __u32 max_data_mask) {
  if (!ev) return 0;
  __u32 zero = 0;
  __u64 *seq = bpf_map_lookup_elem(&tgd_data_seq, &zero);
  if (!seq) return 0;
  __u64 id = ((__u64)(bpf_get_smp_processor_id() + 1) << 48) | (__sync_fetch_and_add(seq, 1) & 0xffffffffffffULL);
  ev->data_id = id;
  __u32 big = ev->memo.big_mask;
  for (__u32 a = 0; a < TGD_MAX_ARGS; a++) {
    ev->data[a].sent = 0;
    ev->data[a].flags = 0;
    if (a < ev->n_args && (big & (1u << a))) tgd_post_one(ev, a, max_data_mask, id);
  }
  return 0;
}

#endif /* TGDISPATCH_BPF_DISPATCH_DATA_CHUNKS_BPF_H_ */
