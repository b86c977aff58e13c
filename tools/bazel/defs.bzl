"""Project C++ macros: one place for warnings and for root-only test tags."""

# Warnings are errors for project code (generated code is built without them).
TGD_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    # g++ 12 at -O2 reports std::string's own memcpy in char_traits.h as an
    # overlapping copy (GCC bug 105329, a false positive): -c opt failed on it.
    "-Wno-restrict",
]

def tgd_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = TGD_COPTS + copts, **kwargs)

def tgd_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = TGD_COPTS + copts, **kwargs)

def tgd_cc_test(name, copts = [], deps = [], srcs = [], **kwargs):
    native.cc_test(
        name = name,
        # Under --config=tsan: TSan annotations for Debian's abseil mutexes.
        srcs = srcs + select({
            "//tools/tsan:tsan": ["//tools/tsan:absl_sync_annotations.cc"],
            "//conditions:default": [],
        }),
        copts = TGD_COPTS + copts,
        deps = deps + ["@system//:gtest_main"],
        **kwargs
    )

def tgd_root_test(name, exclusive = True, tags = [], **kwargs):
    """A test that needs root, BPF or a kernel feature.

    It runs outside the sandbox (bpffs, cgroupfs, tracefs) and, unless told
    otherwise, alone, because it attaches to machine-wide hooks or counts
    machine-wide events. The test itself probes what it needs and skips with
    a printed reason (GTEST_SKIP) when the machine lacks it.
    """
    extra = ["root", "no-sandbox"]
    if exclusive:
        extra.append("exclusive")
    tgd_cc_test(name = name, tags = tags + extra, **kwargs)
