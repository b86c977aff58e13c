/* Readers of Tetragon's kernel-object and buffer argument types, shared by
 * every hook kind that hands the evaluator a kernel pointer (tracepoint
 * fields, raw tracepoint and LSM arguments, kprobe registers): file, path,
 * dentry, linux_binprm and fd (path, mode, path flags), sock, socket and skb
 * (Tetragon's tuple), net_device (name), cred, user_namespace, capability
 * sets, user and kernel buffers. CO-RE reads only, so one object serves every
 * kernel. Part of eval.bpf.h (through args.bpf.h). */
#ifndef TGDISPATCH_BPF_DISPATCH_ARG_READERS_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_ARG_READERS_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/process/path.bpf.h"

#define TGD_AF_INET 2
#define TGD_AF_INET6 10
#define TGD_IPPROTO_TCP 6
#define TGD_IPPROTO_UDP 17

/* The path of (dentry, vfsmount) into v->str; vfsmnt 0 walks only up to the
 * dentry's file system root (Tetragon's dentry). Sets len and flags. */
static __noinline void tgd_read_dentry_path(struct dentry *dentry, struct vfsmount *vfsmnt,
                                            struct tgd_arg_val *v) {
  if (!v) return;
  __u32 zero = 0;
  struct tgd_path_scratch *s = bpf_map_lookup_elem(&tgd_path_scratch_map, &zero);
  v->len = 0;
  v->flags = 0;
  if (!s || !dentry) return;
  int truncated = 0;
  int off = tgd_build_path(s, dentry, vfsmnt, &truncated);
  long n = bpf_probe_read_kernel_str(v->str, TGD_STR_MAX, &s->buf[off & TGD_PATH_MASK]);
  if (n <= 0) n = 1;
  if ((__u32)(TGD_PATH_BUF - 1 - off) >= TGD_STR_MAX) truncated = 1;
  v->len = (__u32)(n - 1);
  if (truncated) v->flags = TGD_PATHF_UNRESOLVED;
  v->mode = BPF_CORE_READ(dentry, d_inode, i_mode);
}

static __always_inline void tgd_read_file(struct file *file, struct tgd_arg_val *v) {
  if (!file) {
    v->len = 0;
    return;
  }
  struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
  struct vfsmount *mnt = BPF_CORE_READ(file, f_path.mnt);
  tgd_read_dentry_path(dentry, mnt, v);
}

/* The file of descriptor `fd` of the current task, or 0. */
static __always_inline struct file *tgd_fd_file(__s32 fd) {
  if (fd < 0) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return 0;
  unsigned int max = BPF_CORE_READ(fdt, max_fds);
  if ((unsigned int)fd >= max) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = 0;
  bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
  return f;
}

static __noinline void tgd_read_sock(struct sock *sk, struct tgd_arg_val *v) {
  if (!v) return;
  struct tgd_net_val *n = &v->net;
  if (!sk) return;
  n->cookie = (__u64)sk;
  n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
  n->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  n->type = BPF_CORE_READ(sk, sk_type);
  n->protocol = BPF_CORE_READ(sk, sk_protocol);
  n->mark = BPF_CORE_READ(sk, sk_mark);
  n->priority = BPF_CORE_READ(sk, sk_priority);
  if (n->family == TGD_AF_INET) {
    bpf_core_read(n->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
    bpf_core_read(n->daddr, 4, &sk->__sk_common.skc_daddr);
  } else if (n->family == TGD_AF_INET6) {
    bpf_core_read(n->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_core_read(n->daddr, 16, &sk->__sk_common.skc_v6_daddr);
  }
  n->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  n->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

static __noinline void tgd_read_skb(struct sk_buff *skb, struct tgd_arg_val *v) {
  if (!v) return;
  struct tgd_net_val *n = &v->net;
  if (!skb) return;
  n->hash = BPF_CORE_READ(skb, hash);
  n->len = BPF_CORE_READ(skb, len);
  n->priority = BPF_CORE_READ(skb, priority);
  n->mark = BPF_CORE_READ(skb, mark);
  unsigned char *head = BPF_CORE_READ(skb, head);
  __u16 l3 = BPF_CORE_READ(skb, network_header);
  __u16 l4 = BPF_CORE_READ(skb, transport_header);
  __u8 b0 = 0;
  bpf_probe_read_kernel(&b0, 1, head + l3);
  __u8 proto = 0;
  if ((b0 >> 4) == 4) {
    struct iphdr *ip = (struct iphdr *)(head + l3);
    bpf_probe_read_kernel(&proto, 1, &ip->protocol);
    n->family = TGD_AF_INET;
    bpf_probe_read_kernel(n->saddr, 4, &ip->saddr);
    bpf_probe_read_kernel(n->daddr, 4, &ip->daddr);
  } else if ((b0 >> 4) == 6) {
    struct ipv6hdr *ip6 = (struct ipv6hdr *)(head + l3);
    bpf_probe_read_kernel(&proto, 1, &ip6->nexthdr); /* extension headers are not walked */
    n->family = TGD_AF_INET6;
    bpf_probe_read_kernel(n->saddr, 16, &ip6->saddr);
    bpf_probe_read_kernel(n->daddr, 16, &ip6->daddr);
  } else {
    return;
  }
  n->protocol = proto;
  if (proto == TGD_IPPROTO_TCP || proto == TGD_IPPROTO_UDP) {
    /* source and dest are the first two 16-bit words of both headers */
    __u16 ports[2] = {};
    bpf_probe_read_kernel(ports, sizeof(ports), head + l4);
    n->sport = bpf_ntohs(ports[0]);
    n->dport = bpf_ntohs(ports[1]);
  }
}

/* struct sockaddr: family, then for AF_INET/AF_INET6 the address (saddr)
 * and port (sport, host order). */
static __noinline void tgd_read_sockaddr(void *sa, __u32 user, struct tgd_arg_val *v) {
  if (!v || !sa) return;
  struct tgd_net_val *n = &v->net;
  struct sockaddr_in6 in6 = {};
  long err = user ? bpf_probe_read_user(&in6, sizeof(in6), sa) : bpf_probe_read_kernel(&in6, sizeof(in6), sa);
  if (err) { /* a sockaddr_in is shorter: read that much */
    err = user ? bpf_probe_read_user(&in6, sizeof(struct sockaddr_in), sa)
               : bpf_probe_read_kernel(&in6, sizeof(struct sockaddr_in), sa);
    if (err) return;
  }
  n->family = in6.sin6_family;
  n->sport = bpf_ntohs(in6.sin6_port);
  if (n->family == TGD_AF_INET) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)&in6;
    __builtin_memcpy(n->saddr, &in4->sin_addr, 4);
  } else if (n->family == TGD_AF_INET6) {
    __builtin_memcpy(n->saddr, &in6.sin6_addr, 16);
  } else {
    n->sport = 0;
  }
}

/* load_info is private to kernel/module; its BTF may be missing (no
 * module support): every read is guarded by bpf_core_type_exists. */
struct load_info___tgd {
  const char *name;
  struct module *mod;
  bool sig_ok;
} __attribute__((preserve_access_index));

static __noinline void tgd_read_kobj(__u32 type, void *p, struct tgd_arg_val *v) {
  if (!v || !p) return;
  struct tgd_kobj_val *k = &v->kobj;
  if (type == TGD_ARG_BPF_ATTR) {
    union bpf_attr *a = p;
    bpf_core_read(&k->type, 4, &a->prog_type);
    bpf_core_read(&k->count, 4, &a->insn_cnt);
    bpf_core_read(k->name, 16, &a->prog_name);
  } else if (type == TGD_ARG_BPF_PROG) {
    struct bpf_prog *bp = p;
    k->type = BPF_CORE_READ(bp, type);
    k->count = BPF_CORE_READ(bp, len);
    struct bpf_prog_aux *aux = BPF_CORE_READ(bp, aux);
    bpf_core_read_str(k->name, 16, &aux->name);
  } else if (type == TGD_ARG_BPF_MAP) {
    struct bpf_map *m = p;
    k->type = BPF_CORE_READ(m, map_type);
    k->key_size = BPF_CORE_READ(m, key_size);
    k->value_size = BPF_CORE_READ(m, value_size);
    k->max_entries = BPF_CORE_READ(m, max_entries);
    bpf_core_read_str(k->name, 16, &m->name);
  } else if (type == TGD_ARG_PERF_EVENT) {
    struct perf_event *e = p;
    __u64 func = BPF_CORE_READ(e, attr.kprobe_func);
    if (bpf_probe_read_user_str(k->name, TGD_KOBJ_NAME, (void *)func) < 0)
      bpf_probe_read_kernel_str(k->name, TGD_KOBJ_NAME, (void *)func);
    k->type = BPF_CORE_READ(e, attr.type);
    k->config = BPF_CORE_READ(e, attr.config);
    k->probe_offset = BPF_CORE_READ(e, attr.probe_offset);
  } else if (type == TGD_ARG_MODULE) {
    struct module *m = p;
    bpf_core_read_str(k->name, 56, &m->name);
    k->taints = BPF_CORE_READ(m, taints);
    k->sig_ok = 2;
  } else if (type == TGD_ARG_LOAD_INFO) {
    k->sig_ok = 2;
    if (!bpf_core_type_exists(struct load_info___tgd)) return;
    struct load_info___tgd *li = p;
    const char *name = BPF_CORE_READ(li, name);
    bpf_probe_read_kernel_str(k->name, 56, name);
    k->taints = BPF_CORE_READ(li, mod, taints);
    if (bpf_core_field_exists(li->sig_ok)) k->sig_ok = BPF_CORE_READ(li, sig_ok);
  }
}

/* struct sockaddr_un: the path, or "@" and the name of an abstract socket
 * (up to its first NUL); the family goes in v->mode. */
static __noinline void tgd_read_sockaddr_un(char *sa, __u32 user, struct tgd_arg_val *v) {
  if (!v || !sa) return;
  __u16 family = 0;
  char first = 0;
  if ((user ? bpf_probe_read_user(&family, 2, sa) : bpf_probe_read_kernel(&family, 2, sa)) != 0) return;
  v->mode = family;
  if ((user ? bpf_probe_read_user(&first, 1, sa + 2) : bpf_probe_read_kernel(&first, 1, sa + 2)) != 0) return;
  long n;
  if (first == 0) { /* abstract */
    v->str[0] = '@';
    n = user ? bpf_probe_read_user_str(&v->str[1], 107, sa + 3) : bpf_probe_read_kernel_str(&v->str[1], 107, sa + 3);
    v->len = n > 1 ? (__u32)n : 0; /* '@' + name, without the NUL */
  } else {
    n = user ? bpf_probe_read_user_str(v->str, 108, sa + 2) : bpf_probe_read_kernel_str(v->str, 108, sa + 2);
    v->len = n > 0 ? (__u32)(n - 1) : 0;
  }
}

/* char_iovec, as Tetragon reads it: the buffers of the first `cnt` iovecs
 * (at most TGD_IOVEC_ENTRIES, and at most `max` bytes when not 0), joined; an iovec longer than
 * TGD_IOVEC_ENTRY_MAX makes the argument CharBufErrorBufTooLarge, a fault
 * CharBufErrorPageFault (v->mode). The record keeps the first TGD_STR_MAX
 * bytes (joined in the path scratch buffer, offsets and lengths masked so
 * the verifier sees every write in bounds); flags: the joined length (the
 * rest is sent at post time, data_chunks.bpf.h). */
struct iovec_walk {
  struct tgd_path_scratch *s;
  const struct iovec *iov;
  __u32 user;
  __u32 off;
  __u64 total;
  __u32 err;
  __u32 left; /* returnCopy: bytes still under the cap (the return value); 0 with max 0: no cap */
  __u32 max;
};

static long tgd_iovec_step(__u32 i, void *data) {
  struct iovec_walk *w = data;
  struct tgd_path_scratch *s = w->s;
  if (!s) return 1;
  struct iovec io = {};
  const struct iovec *at = w->iov + i;
  if ((w->user ? bpf_probe_read_user(&io, sizeof(io), at) : bpf_probe_read_kernel(&io, sizeof(io), at)) != 0) {
    w->err = TGD_BUFERR_PAGEFAULT;
    return 1;
  }
  __u64 len = io.iov_len;
  if (w->max && len > w->left) len = w->left;
  if (len > TGD_IOVEC_ENTRY_MAX) {
    w->err = TGD_BUFERR_TOOLARGE;
    return 1;
  }
  w->total += len;
  int last = 0;
  if (w->max) {
    w->left -= len;
    last = w->left == 0;
  }
  __u32 off = w->off;
  if (off >= TGD_STR_MAX) return last; /* full: keep counting */
  __u64 n = len;
  if (n > TGD_STR_MAX - off) n = TGD_STR_MAX - off;
  off &= 0xff;
  n &= 0xff;
  if (n == 0) return last;
  long err = w->user ? bpf_probe_read_user(&s->buf[off], n, io.iov_base) : bpf_probe_read_kernel(&s->buf[off], n, io.iov_base);
  if (err != 0) {
    w->err = TGD_BUFERR_PAGEFAULT;
    return 1;
  }
  w->off = off + n;
  return last;
}

static __noinline void tgd_read_iovec(const struct iovec *iov, __u64 cnt, __u32 user, __u32 max,
                                      struct tgd_arg_val *v) {
  if (!v || !iov) return;
  __u32 zero = 0;
  struct tgd_path_scratch *s = bpf_map_lookup_elem(&tgd_path_scratch_map, &zero);
  if (!s) return;
  struct iovec_walk w = {.s = s, .iov = iov, .user = user, .left = max, .max = max};
  bpf_loop(cnt > TGD_IOVEC_ENTRIES ? TGD_IOVEC_ENTRIES : cnt, tgd_iovec_step, &w, 0);
  if (w.err) {
    v->mode = w.err;
    return;
  }
  __u32 n = w.off > TGD_STR_MAX ? TGD_STR_MAX : w.off;
  __builtin_memcpy(v->str, s->buf, TGD_STR_MAX);
  v->len = n;
  v->flags = (__u32)w.total;
}

/* The user buffer of an iov_iter, as Tetragon takes it: a single user
 * buffer (ITER_UBUF) or the first segment of an ITER_IOVEC; other kinds
 * have none (count 0). */
static __always_inline const void *tgd_iov_iter_buf(struct iov_iter *it, __u64 *count) {
  *count = 0;
  if (!it || !bpf_core_field_exists(it->iter_type)) return 0;
  __u8 t = BPF_CORE_READ(it, iter_type);
  if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) && t == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
    *count = BPF_CORE_READ(it, count);
    return BPF_CORE_READ(it, ubuf);
  }
  if (bpf_core_enum_value_exists(enum iter_type, ITER_IOVEC) && t == bpf_core_enum_value(enum iter_type, ITER_IOVEC)) {
    const struct kvec *seg = BPF_CORE_READ(it, kvec);
    *count = BPF_CORE_READ(seg, iov_len);
    return BPF_CORE_READ(seg, iov_base);
  }
  return 0;
}

/* iov_iter: its user buffer's first TGD_STR_MAX bytes; flags: its length. */
static __always_inline void tgd_read_iov_iter(struct iov_iter *it, struct tgd_arg_val *v) {
  __u64 count = 0;
  const void *buf = tgd_iov_iter_buf(it, &count);
  v->flags = count > 0xffffffffULL ? 0xffffffffU : (__u32)count;
  __u32 n = count > TGD_STR_MAX ? TGD_STR_MAX : (__u32)count;
  if (n == 0 || !buf) return;
  if (n > TGD_STR_MAX) n = TGD_STR_MAX;
  if (bpf_probe_read_user(v->str, n, buf) == 0)
    v->len = n;
  else
    v->mode = TGD_BUFERR_PAGEFAULT;
}

static __always_inline void tgd_read_userns(struct user_namespace *ns, struct tgd_userns_val *u) {
  if (!ns) return;
  u->level = BPF_CORE_READ(ns, level);
  u->uid = BPF_CORE_READ(ns, owner.val);
  u->gid = BPF_CORE_READ(ns, group.val);
  u->inum = BPF_CORE_READ(ns, ns.inum);
}

static __noinline void tgd_read_cred(struct cred *c, struct tgd_arg_val *v) {
  if (!v || !c) return;
  struct tgd_cred_val *o = &v->cred;
  o->uid = BPF_CORE_READ(c, uid.val);
  o->gid = BPF_CORE_READ(c, gid.val);
  o->suid = BPF_CORE_READ(c, suid.val);
  o->sgid = BPF_CORE_READ(c, sgid.val);
  o->euid = BPF_CORE_READ(c, euid.val);
  o->egid = BPF_CORE_READ(c, egid.val);
  o->fsuid = BPF_CORE_READ(c, fsuid.val);
  o->fsgid = BPF_CORE_READ(c, fsgid.val);
  o->securebits = BPF_CORE_READ(c, securebits);
  bpf_core_read(&o->cap_permitted, 8, &c->cap_permitted);
  bpf_core_read(&o->cap_effective, 8, &c->cap_effective);
  bpf_core_read(&o->cap_inheritable, 8, &c->cap_inheritable);
  tgd_read_userns(BPF_CORE_READ(c, user_ns), &o->userns);
}

/* Reads a kernel object or buffer argument (type >= TGD_ARG_FILE) whose
 * pointer (or fd) is `raw`; `size_raw` is the value of its length argument
 * (buffers); `aux` the fixed length of a buffer (0: from size_raw); for
 * char_iovec bit 0 user memory and bits 1-31 returnCopy's cap on the bytes
 * (the return value, as Tetragon; 0: none); or 1
 * for a sockaddr in user memory. A global function:
 * the verifier checks it once, not once per path of each evaluator. */
__noinline int tgd_read_object(__u32 type, __u64 raw, __u64 size_raw, __u32 aux, struct tgd_arg_val *v) {
  if (!v) return 0;
  v->type = type;
  v->len = 0;
  v->flags = 0;
  v->mode = 0;
  __builtin_memset(v->str, 0, TGD_STR_MAX);
  switch (type) {
    case TGD_ARG_FILE:
      tgd_read_file((struct file *)raw, v);
      break;
    case TGD_ARG_FD:
      tgd_read_file(tgd_fd_file((__s32)raw), v);
      break;
    case TGD_ARG_KIOCB:
      tgd_read_file(BPF_CORE_READ((struct kiocb *)raw, ki_filp), v);
      break;
    case TGD_ARG_BINPRM:
      tgd_read_file(BPF_CORE_READ((struct linux_binprm *)raw, file), v);
      break;
    case TGD_ARG_PATH: {
      struct path *p = (struct path *)raw;
      tgd_read_dentry_path(BPF_CORE_READ(p, dentry), BPF_CORE_READ(p, mnt), v);
      break;
    }
    case TGD_ARG_DENTRY:
      tgd_read_dentry_path((struct dentry *)raw, 0, v);
      break;
    case TGD_ARG_SOCK:
      tgd_read_sock((struct sock *)raw, v);
      break;
    case TGD_ARG_SOCKET:
      tgd_read_sock(BPF_CORE_READ((struct socket *)raw, sk), v);
      break;
    case TGD_ARG_SKB:
      tgd_read_skb((struct sk_buff *)raw, v);
      break;
    case TGD_ARG_NETDEV: {
      struct net_device *dev = (struct net_device *)raw;
      long n = bpf_core_read_str(v->str, 16, &dev->name);
      v->len = n > 0 ? (__u32)(n - 1) : 0;
      break;
    }
    case TGD_ARG_FILENAME: {
      const char *name = BPF_CORE_READ((struct filename *)raw, name);
      long n = bpf_probe_read_kernel_str(v->str, TGD_STR_MAX, name);
      v->len = n > 0 ? (__u32)(n - 1) : 0;
      break;
    }
    case TGD_ARG_SOCKADDR:
      tgd_read_sockaddr((void *)raw, aux, v);
      break;
    case TGD_ARG_IOVEC:
      tgd_read_iovec((const struct iovec *)raw, size_raw, aux & 1, aux >> 1, v);
      break;
    case TGD_ARG_SOCKADDR_UN:
      tgd_read_sockaddr_un((char *)raw, aux, v);
      break;
    case TGD_ARG_IOV_ITER:
      tgd_read_iov_iter((struct iov_iter *)raw, v);
      break;
    case TGD_ARG_BPF_ATTR:
    case TGD_ARG_BPF_PROG:
    case TGD_ARG_BPF_MAP:
    case TGD_ARG_PERF_EVENT:
    case TGD_ARG_MODULE:
    case TGD_ARG_LOAD_INFO:
      tgd_read_kobj(type, (void *)raw, v);
      break;
    case TGD_ARG_CRED:
      tgd_read_cred((struct cred *)raw, v);
      break;
    case TGD_ARG_USER_NS:
      tgd_read_userns((struct user_namespace *)raw, &v->userns);
      break;
    case TGD_ARG_CAP_SET:
      bpf_probe_read_kernel(&v->u64, 8, (void *)raw);
      break;
    case TGD_ARG_USER_BUF:
    case TGD_ARG_KERNEL_BUF: {
      __u64 want = aux ? aux : size_raw;
      if ((__s64)want < 0) want = 0;
      v->flags = want > 0xffffffffULL ? 0xffffffffU : (__u32)want;
      __u32 n = want > TGD_STR_MAX ? TGD_STR_MAX : (__u32)want;
      if (n == 0) break;
      if (n > TGD_STR_MAX) n = TGD_STR_MAX;
      long err = type == TGD_ARG_USER_BUF ? bpf_probe_read_user(v->str, n, (void *)raw)
                                          : bpf_probe_read_kernel(v->str, n, (void *)raw);
      v->len = err == 0 ? n : 0;
      if (err != 0) v->mode = TGD_BUFERR_PAGEFAULT;
      break;
    }
  }
  return 0;
}

/* The value of field `field` of an argument, for integer clauses. */
static __always_inline __u64 tgd_arg_field(struct tgd_arg_val *v, __u8 field) {
  switch (field) {
    case TGD_FIELD_FAMILY: return v->net.family;
    case TGD_FIELD_PROTOCOL: return v->net.protocol;
    case TGD_FIELD_STATE: return v->net.state;
    case TGD_FIELD_SPORT: return v->net.sport;
    case TGD_FIELD_DPORT: return v->net.dport;
    case TGD_FIELD_FILE_TYPE: return v->mode & 0170000;
  }
  return v->u64;
}

/* Whether an argument's value is a string (matched by the string clauses). */
static __always_inline int tgd_arg_is_string(__u32 type) {
  return type == TGD_ARG_STR_USER || type == TGD_ARG_STR_KERNEL || type == TGD_ARG_DATA_LOC_STR ||
         type == TGD_ARG_INLINE_STR || type == TGD_ARG_FILE || type == TGD_ARG_PATH ||
         type == TGD_ARG_DENTRY || type == TGD_ARG_BINPRM || type == TGD_ARG_FD || type == TGD_ARG_NETDEV ||
         type == TGD_ARG_FILENAME || type == TGD_ARG_KIOCB || type == TGD_ARG_SOCKADDR_UN || type == TGD_ARG_IOVEC || type == TGD_ARG_USER_BUF || type == TGD_ARG_KERNEL_BUF;
}

/* Whether an argument is a buffer (its bytes beyond the record go in data chunks). */
static __always_inline int tgd_arg_is_buffer(__u32 type) {
  return type == TGD_ARG_USER_BUF || type == TGD_ARG_KERNEL_BUF || type == TGD_ARG_IOVEC || type == TGD_ARG_IOV_ITER;
}

/* Whether an argument holds a tgd_net_val. */
static __always_inline int tgd_arg_is_net(__u32 type) {
  return type == TGD_ARG_SOCK || type == TGD_ARG_SOCKET || type == TGD_ARG_SKB || type == TGD_ARG_SOCKADDR;
}

#endif /* TGDISPATCH_BPF_DISPATCH_ARG_READERS_BPF_H_ */
