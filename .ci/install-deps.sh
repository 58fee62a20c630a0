#!/usr/bin/env bash
# Install jetcnn's Debian 12 dependencies (needs root; uses sudo when not root).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES=(
  build-essential cmake pkg-config strace
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev libopenblas-openmp-dev
  libinih-dev
  libonnx-dev protobuf-c-compiler libprotobuf-c-dev python3-onnx   # jetcnn export: ONNX schema, protoc-c, checker
  python3 python3-numpy python3-h5py python3-matplotlib python3-sklearn python3-torch
  python3-pandas python3-tables
  clang libclang-rt-14-dev libomp-dev   # libFuzzer build (tests/fuzz): clang, its fuzzer runtime, OpenMP
  slurm-wlm munge                       # tests/cluster.cmake starts its own three-node SLURM cluster:
  iproute2 util-linux                   #   a bridge and a network namespace per node (ip, tc; nsenter, unshare)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "install-deps: all Debian packages present"
