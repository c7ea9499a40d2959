#!/usr/bin/env bash
# Fuzzes VmLab's input parsers with SharpFuzz under AFL++.
#   fuzz/run.sh <seconds-per-target> [target...]      (default: every target)
# Needs afl-fuzz (apt-get install afl++) and the sharpfuzz tool
# (dotnet tool install SharpFuzz.CommandLine --tool-path <dir>; put <dir> on PATH or set SHARPFUZZ).
# Work goes to ${FUZZ_OUT:-/tmp/vmlab-fuzz}: an instrumented copy of the harness and one AFL output folder per target.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:?seconds per target}"; shift
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(config sweep scenario lackey champsim din vmt)
out="${FUZZ_OUT:-/tmp/vmlab-fuzz}"
sharpfuzz="${SHARPFUZZ:-sharpfuzz}"

dotnet build -c Release "$here/VmLab.Fuzz/VmLab.Fuzz.csproj" -nologo -v q
rm -rf "$out/bin"; mkdir -p "$out"
cp -r "$here/VmLab.Fuzz/bin/Release/net10.0" "$out/bin"
for dll in VmLab.Host.dll VmLab.Traces.dll VmLab.Plugins.Scenarios.dll; do "$sharpfuzz" "$out/bin/$dll"; done

export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export VMLAB_FUZZ_BASE="$here/../configs/sweeps" VMLAB_FUZZ_PLUGINS="$out/bin/plugins"
for t in "${targets[@]}"; do
  rm -rf "$out/$t"
  afl-fuzz -V "$secs" -t 5000 -m none -i "$here/corpus/$t" -o "$out/$t" -- dotnet "$out/bin/vmlab-fuzz.dll" "$t" > "$out/$t.log" 2>&1 || true
  stats="$out/$t/default/fuzzer_stats"
  echo "$t: execs $(awk '/^execs_done/{print $3}' "$stats") crashes $(awk '/^saved_crashes/{print $3}' "$stats") hangs $(awk '/^saved_hangs/{print $3}' "$stats")"
done
