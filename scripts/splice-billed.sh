#!/bin/sh
# Puts the billed-time section read from stdin (apigw-local/benches/billed, between its `<!-- billed:` marker lines)
# into BENCHMARKS.md (or the file given): in place of the one there, or before the hand-written analysis if there is
# none yet. Every other line of the file is kept as it is, so one section can be rerun alone (`make bench-billed`).
set -eu
file=${1:-BENCHMARKS.md}
section=$(mktemp)
trap 'rm -f "$section" "$file.splice"' EXIT
cat >"$section"
grep -q '^<!-- billed: end -->' "$section" || { echo "splice-billed: no complete section on stdin" >&2; exit 1; }
touch "$file"
awk -v section="$section" '
    function emit(  line) { while ((getline line < section) > 0) print line; close(section); done = 1 }
    /^<!-- billed: written/ { emit(); skip = 1; next }
    skip == 1 && /^<!-- billed: end -->/ { skip = 2; next }
    skip == 1 { next }
    skip == 2 { skip = 0; if ($0 == "") next }
    /^<!-- analysis/ && !done { emit() }
    { print }
    END { if (!done) emit() }
' "$file" >"$file.splice"
mv "$file.splice" "$file"
