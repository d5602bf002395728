#!/usr/bin/env bash
# Packs the benchmark for a GPU machine without Node.js, npm or a network: node itself, Dawn (the
# `webgpu` package's linux-x64 binary), the Vulkan loader, the bench bundled by esbuild (pure-JS
# peers inlined: tfjs-webgpu, jax-js) and the MobileNetV2 weights. Writes .devcarry/ (git-ignored).
# Usage, from the project root after `npm ci`:  bash bench/gpu/pack.sh
# There, from a checkout with .devcarry/ beside it:  bash .devcarry/run.sh [bench flags]
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
out=.devcarry
mkdir -p "$out"
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "pack.sh: run npm ci first (node_modules/webgpu is missing)" >&2; exit 1; }
[ -s "$out/node.tar.xz" ] || tar -C / -cf - "$(command -v node | sed 's#^/##')" | xz -T0 -6 > "$out/node.tar.xz"
tar -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/linux-arm64' \
  node_modules/webgpu $(ls -d node_modules/debug node_modules/ms 2>/dev/null) \
  node_modules/nsfwjs/package.json node_modules/nsfwjs/dist/cjs/index.js node_modules/nsfwjs/dist/models/mobilenet_v2 | xz -T0 -6 > "$out/nm.tar.xz"
ls "$out"/libvulkan1_*.deb >/dev/null 2>&1 || (cd "$out" && apt-get download libvulkan1 >/dev/null)
# onnxruntime-node is a native addon for the CPU peer: left out (the bench reports it as missing).
npx --no-install esbuild bench/run.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --external:onnxruntime-node --outfile="$out/bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
cp bench/gpu/run.sh "$out/run.sh"
du -sh "$out"
