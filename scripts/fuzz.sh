#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 20s). The seed corpora live in each package's
# testdata/fuzz and run with the plain tests too; this finds new inputs.
# A crash is written to testdata/fuzz/<Target>/ by go test: fix the code,
# keep the file as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-20s}
fail=0
count=0
while IFS=: read -r file line; do
  pkg=./$(dirname "$file")
  target=$(sed -n "${line}p" "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/')
  count=$((count + 1))
  echo "fuzz: $pkg $target for $fuzztime"
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" > /tmp/bluegreen-fuzz.$$ 2>&1; then
    cat /tmp/bluegreen-fuzz.$$
    fail=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | grep -v '^./.cache/' | cut -d: -f1,2 | sed 's|^\./||')
rm -f /tmp/bluegreen-fuzz.$$
echo "fuzz: $count targets, ${fuzztime} each"
exit $fail
