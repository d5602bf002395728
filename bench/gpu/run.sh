#!/usr/bin/env bash
# Runs the packed benchmark (bench/gpu/pack.sh) on the GPU machine: unpacks node, Dawn and the
# weights, points Vulkan at the NVIDIA driver when it is there, prints the GPU, and runs the bench
# with the flags given, e.g.
#   bash .devcarry/run.sh --backend webgpu --peers tfjs-webgpu,jax-js-webgpu \
#     --only matmul,mlp,cnn,resnet18,mobilenetv2 --matmul 4096x4096x4096,1024x1024x1024 \
#     --gpu-peak 67000,990000 --out "$OUT"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dst=/tmp/graft-bench
mkdir -p "$dst"
tar -xJf "$here/node.tar.xz" -C "$dst"
tar -xJf "$here/nm.tar.xz" -C "$dst"
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then dpkg -x "$here"/libvulkan1_*.deb / && ldconfig; fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,power.draw --format=csv,noheader 2>/dev/null || true
cp "$here/bench.mjs" "$dst/bench.mjs"
# The bundle resolves the weights and Dawn from the unpacked node_modules.
cd "$dst"
exec "$dst/usr/bin/node" "$dst/bench.mjs" "$@"
