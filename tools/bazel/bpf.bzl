"""bpf_program: a .bpf.c file -> BPF object (clang) -> libbpf skeleton -> cc_library."""

BPF_CFLAGS = [
    "-O2",
    "-g",
    "-target bpf",
    "-mcpu=v3",
    "-D__TARGET_ARCH_x86",
    "-Wall",
    "-Werror",
    "-Wno-unused-function",
    "-I.",
    "-I$(GENDIR)",
    "-Ibpf/vmlinux",
]

def bpf_program(name, src, hdrs = [], visibility = None):
    """Builds `src` into `<name>.bpf.o` and the cc_library `name` with `<name>.skel.h`.

    The skeleton's C name is `name` (struct name, name__open(), ...). The raw
    object is also exported as `:<name>_obj` for BTF checks and loaders that
    open it by path.
    """
    obj = name + ".bpf.o"
    skel = name + ".skel.h"
    native.genrule(
        name = name + "_obj",
        srcs = [src] + hdrs + ["//bpf/vmlinux:vmlinux.h"],
        outs = [obj],
        cmd = "/usr/bin/clang %s -c $(location %s) -o $@" % (" ".join(BPF_CFLAGS), src),
        visibility = visibility,
    )
    native.genrule(
        name = name + "_skel",
        srcs = [":" + obj],
        outs = [skel],
        cmd = "/usr/sbin/bpftool gen skeleton $(location :%s) name %s > $@" % (obj, name),
    )
    native.cc_library(
        name = name,
        hdrs = [":" + skel],
        deps = ["@system//:libbpf"],
        visibility = visibility,
    )
