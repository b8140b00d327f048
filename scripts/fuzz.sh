#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after the other, each for SECONDS (default 600), and prints a table of
# executions, speed, coverage and findings. Exits non-zero when a target found a crash, leak, timeout or OOM.
#
#   scripts/fuzz.sh              # 10 minutes per target
#   scripts/fuzz.sh 20           # CI smoke: 20 s per target
#   scripts/fuzz.sh 600 http_request proxy_response
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). One libFuzzer job per target,
# at nice 10: the machine is shared. New inputs go to fuzz/work/<target>/ (ignored by git), so the committed seeds in
# fuzz/corpus/<target>/ stay as they are; crash reproducers go to fuzz/artifacts/<target>/. A fixed crash's
# reproducer belongs in fuzz/regressions/<target>/, where the stable test run replays it.
set -euo pipefail

seconds="${1:-600}"
shift || true
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=(handler_event http_request proxy_response)
fi
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi

fuzz_dir="$(cd "$(dirname "$0")/../fuzz" && pwd)"
cd "$fuzz_dir"

# Debug assertions and overflow checks on: an arithmetic overflow is a finding, not a wrapped number.
nice -n 10 cargo +nightly fuzz build --debug-assertions

status=0
rows=()
for target in "${targets[@]}"; do
  mkdir -p "work/$target" "artifacts/$target"
  log="work/$target.log"
  found_before=$(find "artifacts/$target" -type f | wc -l)
  echo "== $target: ${seconds}s" >&2
  # -timeout: an input that takes 10 s is a hang. A crash stops the target's run (libFuzzer's default).
  # New inputs are written to the first directory; the seeds and the fixed crashes' reproducers are read too.
  inputs=("work/$target" "corpus/$target")
  [[ -d "regressions/$target" ]] && inputs+=("regressions/$target")
  rc=0
  nice -n 10 cargo +nightly fuzz run --debug-assertions --jobs 1 "$target" "${inputs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  findings=$(($(find "artifacts/$target" -type f | wc -l) - found_before))

  # libFuzzer's status lines: `#<runs> <event> cov: <edges> ft: <features> corp: <units>/<bytes> ... exec/s: <n>`.
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  speed=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  [[ -n "$runs" ]] || runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  [[ -n "$speed" ]] || speed=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  features=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corpus=$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  rows+=("$(printf '%-15s %8s %12s %8s %6s %7s %14s %8s' "$target" "$seconds" "${runs:-?}" "${speed:-?}" \
    "${cov:-?}" "${features:-?}" "${corpus:-?}" "$findings")")
  if [[ "$rc" -ne 0 || "$findings" -gt 0 ]]; then
    status=1
    echo "   $target failed (exit $rc): see fuzz/$log and fuzz/artifacts/$target/" >&2
    grep -E -m 5 'panicked at|ERROR: |^SUMMARY' "$log" >&2 || true
  fi
done

printf '%-15s %8s %12s %8s %6s %7s %14s %8s\n' target seconds executions exec/s cov ft corpus findings
printf '%s\n' "${rows[@]}"
exit "$status"
