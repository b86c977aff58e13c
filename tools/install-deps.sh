#!/usr/bin/env bash
# Installs the Debian 12 packages tgdispatch builds, tests and runs with, and
# nothing else. Idempotent: it only calls apt-get when a package is missing.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev linux-libc-dev
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libgoogle-glog-dev libgflags-dev libre2-dev libcivetweb-dev gnuplot-nox
  openssl  # the TLS tests make their certificates with it
  systemtap-sdt-dev  # <sys/sdt.h>: the USDT probes of the loader tests' target binary
  libssl-dev  # libcrypto: uprobes' binaryDigests (sha256, sha384, sha512, sha1) and imaHash's digests
  dwarves  # pahole: the BTF file (btfPath) of the uprobe tests' target binary
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
mkdir -p /var/cache/tgdispatch/bazel-disk 2>/dev/null || true
