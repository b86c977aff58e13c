/* The wire format of buffers longer than the event record (char_buf,
 * char_iovec, iov_iter and returnCopy buffers): data-chunk records on the
 * ring buffer ahead of their event, and the descriptors the event carries.
 * Part of dispatch_abi.h (which includes it), shared by BPF and user space. */
#ifndef TGDISPATCH_BPF_DISPATCH_DATA_CHUNKS_ABI_H_
#define TGDISPATCH_BPF_DISPATCH_DATA_CHUNKS_ABI_H_

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Buffers beyond the event record (char_buf, char_iovec, iov_iter and
 * returnCopy buffers). The event record holds the first TGD_STR_MAX bytes
 * of a buffer, what selectors match on. When a posted event's buffer is
 * longer, the evaluator reads what Tetragon would report (TGD_BUF_DEFAULT
 * bytes, or up to TGD_DATA_MAX with maxData) and writes it as chunk records
 * (TGD_EV_DATA) to the ring buffer before the event record, so they reach
 * user space first; the event's tgd_data_desc says how many bytes were
 * sent, and user space joins the chunks by (data_id, argument). */
#define TGD_EV_DATA 11
#define TGD_DATA_CHUNK 32736 /* bytes of one chunk record (Tetragon's data message) */
#define TGD_DATA_CHUNKS 10   /* chunks of one buffer at most */
#define TGD_DATA_MAX (TGD_DATA_CHUNKS * TGD_DATA_CHUNK) /* maxData: 327,360 bytes (Tetragon's) */
#define TGD_BUF_DEFAULT 4095 /* bytes of a buffer without maxData (Tetragon reads at most 0xfff) */
#define TGD_BUF_MAXDATA_MIN 4096 /* maxData: buffers from this size on go as Tetragon's data events */
#define TGD_IOVEC_ENTRIES 7  /* char_iovec: iovecs read (as Tetragon) */
#define TGD_IOVEC_ENTRY_MAX 4094 /* char_iovec: a longer iovec is Tetragon's CharBufErrorBufTooLarge */
/* Tetragon's char_buf errors (tgd_arg_val.mode of a buffer, negated). */
#define TGD_BUFERR_PAGEFAULT 2
#define TGD_BUFERR_TOOLARGE 3

struct tgd_data_chunk_hdr {
  __u32 op;     /* TGD_EV_DATA */
  __u16 arg;    /* position in the event's args */
  __u16 pad;
  __u64 id;     /* the event's data_id */
  __u32 offset; /* of the first byte in the buffer */
  __u32 len;    /* bytes that follow */
};

struct tgd_data_chunk {
  struct tgd_data_chunk_hdr h;
  char data[TGD_DATA_CHUNK];
};

/* The record of a chunk of at most TGD_DATA_SMALL bytes (a ring buffer
 * record has a fixed size: small chunks take a small one). */
#define TGD_DATA_SMALL 4096
struct tgd_data_chunk_small {
  struct tgd_data_chunk_hdr h;
  char data[TGD_DATA_SMALL];
};

/* A buffer argument's chunks (tgd_policy_event.data[arg]). */
#define TGD_DATAF_LOST 1      /* a chunk was not written (ring buffer full) or, with maxData, not read: the
                                  argument is dropped, as Tetragon drops a data event it cannot complete */
#define TGD_DATAF_PAGEFAULT 2 /* a chunk of an inline-sized read faulted: Tetragon's CharBufErrorPageFault */
struct tgd_data_desc {
  __u32 sent;  /* bytes sent in chunks (0: the record's inline bytes are the whole buffer) */
  __u32 flags; /* TGD_DATAF_* */
};

/* Where a long buffer is read from at post time (scratch, not sent). */
struct tgd_buf_src {
  __u64 ptr;  /* buffer, iovec array or struct iov_iter * */
  __u64 cnt;  /* buffer: its length; char_iovec: the iovec count */
  __u32 user; /* user memory */
  __u32 pad;
};

#endif /* TGDISPATCH_BPF_DISPATCH_DATA_CHUNKS_ABI_H_ */
