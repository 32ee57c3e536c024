#!/usr/bin/env bash
# Builds the addon with AddressSanitizer and UBSan into build-asan/ (the release build in
# build/ is left alone), for running the JavaScript test suites against it.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build-asan/src
mkdir -p build-asan
cp -r src binding.gyp build-asan/
cd build-asan
VNF_SANITIZE=1 node-gyp rebuild --release -j 2 --loglevel=warn >/dev/null
echo "build-asan: $(pwd)/build/Release/vnf_core.node"
