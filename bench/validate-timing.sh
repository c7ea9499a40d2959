#!/usr/bin/env bash
# How well the timing model predicts this host: fault-heavy microbenchmarks that `vmlab calibrate` does not use,
# run natively and as VmLab scenarios, predicted time against measured time (docs/calibrate.md#validation).
#
#   bench/validate-timing.sh [--profile PROFILE.json] [--repeat N] [--native-only]
#
# 1. builds bench/validate-timing/native.c with gcc and runs it: each benchmark --repeat times (default 5), the
#    fastest run's timed part in CPU time (time given to other processes is not counted), pinned to one CPU, THP
#    off; and whether this kernel maps the zero page on read faults;
# 2. unless --native-only: runs each benchmark's scenario (bench/validate-timing/NAME.vms) with vmlab, and the same
#    scenario cut at its `reset` line (the set-up the native side does outside its timer); the timed part's figures
#    are the differences of the two runs' metrics. With --profile, the machine gets
#    machine:timing = { "plugin": "analytic", "options": { "profile": PROFILE } } and a cache hierarchy for the
#    page-table walker (machine:cache set-associative: without one every walk reference costs a DRAM access), and the
#    prediction is time.seconds;
# 3. prints per benchmark: Linux µs, VmLab µs, their ratio (VmLab / Linux), and the minor faults of each side (they
#    must be equal: the scenario is the same sequence; a difference is printed as such).
# A kernel without the zero page (as tests/linux-oracle/kernel-zero-page.c finds) runs the scenarios with the
# demand-zero and stack-growth handlers' zeroPage off, as the Linux oracle does.
#   VMLAB  the vmlab command (default: ./vmlab of this checkout, which publishes it on first use)
# Exit codes: 0 done; 2 bad arguments, gcc missing, or a profile this build's vmlab cannot use.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/bench/validate-timing"
profile=""
repeat=5
native_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || { echo "--profile needs a file: the profile vmlab calibrate wrote" >&2; exit 2; }; profile=$2; shift 2 ;;
    --repeat) [ $# -ge 2 ] || { echo "--repeat needs a number from 1 to 101" >&2; exit 2; }; repeat=$2; shift 2 ;;
    --native-only) native_only=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
case "$repeat" in
  ''|*[!0-9]*) echo "--repeat expects a whole number from 1 to 101, got '$repeat'" >&2; exit 2 ;;
esac
if [ "$repeat" -lt 1 ] || [ "$repeat" -gt 101 ]; then echo "--repeat expects a whole number from 1 to 101, got '$repeat'" >&2; exit 2; fi
if [ -n "$profile" ]; then
  [ -f "$profile" ] || { echo "--profile $profile: file not found" >&2; exit 2; }
  profile=$(cd "$(dirname "$profile")" && pwd)/$(basename "$profile")
fi
[ "$(uname -s)" = Linux ] || { echo "validate-timing.sh measures a Linux host; this is $(uname -s)" >&2; exit 2; }
command -v gcc >/dev/null || { echo "gcc is needed to build the native microbenchmarks (apt-get install gcc libc6-dev)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to read vmlab's JSON" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$tmp/native" "$dir/native.c"
"$tmp/native" "$repeat" > "$tmp/native.out"
zero_page=$(awk '$1 == "zero_page" { print $2 }' "$tmp/native.out")

sets=()
if [ "$zero_page" = 0 ]; then
  echo "kernel: read faults allocate a frame (no zero page); scenarios run with zeroPage false"
  sets+=(--set machine:faultHandlers:0:options:zeroPage=false --set machine:faultHandlers:3:options:zeroPage=false)
else
  echo "kernel: read faults map the zero page"
fi
if [ -n "$profile" ]; then
  sets+=(--set machine:timing:plugin=analytic --set "machine:timing:options:profile=$profile" --set machine:cache:plugin=set-associative)
  echo "profile: $profile"
fi
if [ -n "${VMLAB:-}" ]; then read -r -a vmlab <<< "$VMLAB"; else vmlab=("$root/vmlab"); fi

# The metrics of one run as "faults.minor time.seconds" (time.seconds "-" when vmlab reports none).
figures() {
  local out="$tmp/run.json"
  if ! "${vmlab[@]}" run "$1" --json "$out" "${sets[@]}" > /dev/null 2> "$tmp/run.err"; then
    echo "vmlab run $1 failed:" >&2
    cat "$tmp/run.err" >&2
    exit 2
  fi
  python3 - "$out" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(int(m.get("faults.minor", 0)), m.get("time.seconds", "-"))
PY
}

printf '%-16s %12s %12s %7s %13s %13s\n' benchmark "linux µs" "vmlab µs" ratio "linux faults" "vmlab faults"
while read -r name ns faults; do
  [ "$name" = zero_page ] && continue
  linux_us=$(awk -v ns="$ns" 'BEGIN { printf "%.1f", ns / 1000 }')
  if [ "$native_only" = 1 ]; then
    printf '%-16s %12s %12s %7s %13s %13s\n' "$name" "$linux_us" - - "$faults" -
    continue
  fi
  # The set-up: the scenario up to (not including) its reset line.
  sed '/^reset\b/,$d' "$dir/$name.vms" > "$tmp/$name.setup.vms"
  read -r full_faults full_s <<< "$(figures "$dir/$name.vms")"
  read -r setup_faults setup_s <<< "$(figures "$tmp/$name.setup.vms")"
  vm_faults=$((full_faults - setup_faults))
  if [ -n "$profile" ]; then
    if [ "$full_s" = - ]; then
      echo "vmlab reported no time.seconds with machine:timing set: this vmlab has no timing model" >&2
      exit 2
    fi
    read -r vm_us ratio <<< "$(awk -v f="$full_s" -v s="$setup_s" -v ns="$ns" 'BEGIN { us = (f - s) * 1e6; printf "%.1f %.2f", us, us * 1000 / ns }')"
  else
    vm_us=-; ratio=-
  fi
  mark=""
  [ "$vm_faults" = "$faults" ] || mark="  (faults differ)"
  printf '%-16s %12s %12s %7s %13s %13s%s\n' "$name" "$linux_us" "$vm_us" "$ratio" "$faults" "$vm_faults" "$mark"
done < "$tmp/native.out"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (a busy machine slows the native side; compare on an idle one)"
