/* Absolute path of a `struct path` in BPF: walks dentries up to the mount
 * root, crosses mounts, and writes the components right-to-left into a
 * scratch buffer (a bounded stand-in for d_path, which raw tracepoints
 * cannot call). */
#ifndef TGDISPATCH_BPF_PROCESS_PATH_BPF_H_
#define TGDISPATCH_BPF_PROCESS_PATH_BPF_H_

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define TGD_PATH_BUF 4096 /* power of two: offsets are masked with it */
#define TGD_PATH_MASK (TGD_PATH_BUF - 1)
#define TGD_PATH_NAME_MAX 255
#define TGD_PATH_DEPTH 48

struct tgd_path_scratch {
  /* Room for a whole name past the masked offset keeps the verifier happy. */
  char buf[TGD_PATH_BUF + TGD_PATH_NAME_MAX + 1];
};

/* Per-CPU scratch for path building (not shared across CPUs; a program
 * runs to completion on one CPU for the raw tracepoints used here). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_path_scratch);
} tgd_path_scratch_map SEC(".maps");

struct tgd_path_walk {
  struct tgd_path_scratch *s;
  struct dentry *dentry;
  struct vfsmount *vfsmnt;
  struct mount *mnt;
  int off;
  int truncated;
};

/* One step of the walk (bpf_loop callback): 1 stops the loop. */
static long tgd_path_step(__u32 index, void *ctx) {
  struct tgd_path_walk *w = ctx;
  struct tgd_path_scratch *s = w->s;
  if (!s) return 1;
  /* Locals, not w->x, inside BPF_CORE_READ: relocations must be against
   * kernel types only. */
  struct dentry *dentry = w->dentry;
  struct vfsmount *vfsmnt = w->vfsmnt;
  struct mount *mnt = w->mnt;
  struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
  struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
  if (dentry == mnt_root || dentry == parent) {
    struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
    if (mnt_parent == mnt || mnt_parent == 0) {
      w->truncated = 0; /* reached the global root */
      return 1;
    }
    w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
    w->mnt = mnt_parent;
    w->vfsmnt = &mnt_parent->mnt;
    return 0;
  }
  struct qstr name = BPF_CORE_READ(dentry, d_name);
  unsigned int len = name.len & TGD_PATH_NAME_MAX;
  int off = w->off;
  if (off < (int)len + 2 || off > TGD_PATH_BUF) return 1; /* no room: truncated */
  off -= len;
  bpf_probe_read_kernel(&s->buf[off & TGD_PATH_MASK], len, name.name);
  off -= 1;
  s->buf[off & TGD_PATH_MASK] = '/';
  w->off = off;
  w->dentry = parent;
  return 0;
}

/* Builds the path of (dentry, vfsmount) into scratch->buf; returns the
 * offset where the NUL-terminated path starts. *truncated is set when the
 * walk stopped before the root. */
static __always_inline int tgd_build_path(struct tgd_path_scratch *s, struct dentry *dentry,
                                          struct vfsmount *vfsmnt, int *truncated) {
  struct tgd_path_walk w = {
      .s = s,
      .dentry = dentry,
      .vfsmnt = vfsmnt,
      .mnt = container_of(vfsmnt, struct mount, mnt),
      .off = TGD_PATH_BUF - 1,
      .truncated = 1,
  };
  s->buf[TGD_PATH_BUF - 1] = 0;
  bpf_loop(TGD_PATH_DEPTH, tgd_path_step, &w, 0);
  int off = w.off;
  if (off == TGD_PATH_BUF - 1) { /* the root itself */
    off -= 1;
    s->buf[off & TGD_PATH_MASK] = '/';
  }
  *truncated = w.truncated;
  return off & TGD_PATH_MASK;
}

/* Copies the path of `p` into dst (size dst_size, NUL-terminated); returns
 * the length without the NUL and sets *truncated. */
static __always_inline int tgd_read_path(const struct path *p, char *dst, __u32 dst_size,
                                         int *truncated) {
  __u32 zero = 0;
  struct tgd_path_scratch *s = bpf_map_lookup_elem(&tgd_path_scratch_map, &zero);
  *truncated = 0;
  if (!s) return 0;
  struct dentry *dentry = BPF_CORE_READ(p, dentry);
  struct vfsmount *mnt = BPF_CORE_READ(p, mnt);
  int off = tgd_build_path(s, dentry, mnt, truncated);
  if (off < 0) return 0;
  int n = bpf_probe_read_kernel_str(dst, dst_size, &s->buf[off & TGD_PATH_MASK]);
  if (n <= 0) return 0;
  if ((__u32)(TGD_PATH_BUF - 1 - off) >= dst_size) *truncated = 1;
  return n - 1;
}

#endif /* TGDISPATCH_BPF_PROCESS_PATH_BPF_H_ */
