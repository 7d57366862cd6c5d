#!/usr/bin/env bash
# The llama.cpp headers aios-llama-threads.c is compiled against: those of the release
# node-llama-cpp carries (llama/gitRelease.bundle, the release its prebuilt libraries were built
# from), so that the structures passed by value have the libraries' layout. Offline, about 1 s.
# Skipped when the headers of that release are already in src/native/llama-headers.
set -euo pipefail
cd "$(dirname "$0")"
package=../../node_modules/node-llama-cpp/llama
if [ ! -f "$package/gitRelease.bundle" ]; then
  echo "llama-headers: $package/gitRelease.bundle is missing: run npm ci first" >&2
  exit 1
fi
release=$(cat "$package/llama.cpp.info.json")
if [ -f llama-headers/release.json ] && [ "$(cat llama-headers/release.json)" = "$release" ]; then exit 0; fi
rm -rf llama-headers llama-headers.tmp
git clone --quiet --no-checkout "$package/gitRelease.bundle" llama-headers.tmp
mkdir llama-headers
git -C llama-headers.tmp archive HEAD include ggml/include | tar -x -C llama-headers
rm -rf llama-headers.tmp
printf '%s' "$release" > llama-headers/release.json
