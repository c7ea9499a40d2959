#!/usr/bin/env bash
# Whole-process throughput of `vmlab run` on a large real trace, and sweep scaling over it.
#
#   bench/run-trace-benchmark.sh [--passes N] [--runs N] [--no-sweep] [--dir DIR]
#
# 1. builds VmLab in Release (and publishes it with ./vmlab: the ReadyToRun vmlab.dll and, when gcc or clang is here,
#    the native command, which is what ./vmlab runs), bench/arraypass.c with gcc and the C reference model
#    bench/lru-model.c with gcc -O2;
# 2. records arraypass (array passes over 4 MiB) under valgrind lackey with `vmlab trace record` as Lackey text
#    (--passes 3: about 54 M accesses), once, into DIR (default /tmp/vmlab-bench; never inside the repository);
# 3. converts it to .vmt with `vmlab trace convert`;
# 4. runs `vmlab run --json` on each form --runs times (default 3) with the quickstart machine (x86-64 4-level,
#    64-entry fully-associative LRU TLB, cow + demand-zero) and prints, per run, accesses per second: the metrics'
#    accesses over elapsedSeconds (the simulation), over the whole process's wall time and over its CPU time;
# 5. the ratios, each from the best (least CPU) of the runs, whole process against whole process: the C model on the
#    Lackey text against VmLab on the Lackey text and on the .vmt (above 1: VmLab uses less CPU); libCacheSim's LRU
#    over the same page stream (written by the C model in its oracleGeneral format) against VmLab, only when
#    libCacheSim's `cachesim` is on PATH; Dinero IV over the same accesses as din text (64 fully-associative blocks of
#    4 KiB, LRU), only when `dineroIV` is on PATH; and the start-up CPU of `vmlab run` on configs/traces/tiny.vmt;
#    each for the command ./vmlab runs (the native one when it was built) and, when that is the native one, for the
#    managed vmlab.dll too;
# 6. unless --no-sweep: a sweep of 8 cases over the .vmt (entries 16/32/64/128 x lru/fifo) with `vmlab sweep --jobs 2`
#    (a plain .vmt is streamed by every case: docs/sweeps.md) against the same 8 cases as 8 sequential `vmlab run`s, and
#    the speed-up.
# The load average is printed: on a shared machine take the best of several runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=/tmp/vmlab-bench
passes=3
runs=3
sweep=1
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) passes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --no-sweep) sweep=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
case "$(cd "$(dirname "$dir")" 2>/dev/null && pwd)/" in
  "$root"/*) echo "--dir must be outside the repository (the trace is hundreds of MB)" >&2; exit 2 ;;
esac
mkdir -p "$dir"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
command -v gcc >/dev/null || { echo "gcc is needed" >&2; exit 2; }

echo "== build (Release, then the publish ./vmlab runs)" >&2
dotnet build -c Release "$root/VmLab.sln" -v q -nologo >&2
"$root/vmlab" --version >&2
# What ./vmlab runs: the native command when it was built (it runs `run` and `sweep` itself and hands `trace` and the
# rest to vmlab.dll), else the managed one.
managed=(dotnet "$root/artifacts/vmlab/vmlab.dll")
if [ -x "$root/artifacts/vmlab/vmlab-native" ] && [ "${VMLAB_NATIVE:-1}" != 0 ]; then
  vmlab=("$root/artifacts/vmlab/vmlab-native")
  echo "command: the native vmlab (artifacts/vmlab/vmlab-native); the managed vmlab.dll is measured too"
else
  vmlab=("${managed[@]}")
  echo "command: the managed vmlab (artifacts/vmlab/vmlab.dll): no native command was built"
fi
gcc -O1 -o "$dir/arraypass" "$root/bench/arraypass.c"
gcc -O2 -o "$dir/lru-model" "$root/bench/lru-model.c"

lackey="$dir/arraypass-$passes.lackey"
vmt="$dir/arraypass-$passes.vmt"
if [ ! -s "$lackey" ]; then
  echo "== record: valgrind lackey on arraypass $passes (a minute or two)" >&2
  # The output format is told by the name: the partial file ends in .lackey too.
  "${vmlab[@]}" trace record --out "$dir/partial-$(basename "$lackey")" -- "$dir/arraypass" "$passes" >/dev/null
  mv "$dir/partial-$(basename "$lackey")" "$lackey"
fi
if [ ! -s "$vmt" ]; then
  echo "== convert to vmt" >&2
  "${vmlab[@]}" trace convert "$lackey" "$vmt" >&2
fi

config() { # name workload-plugin path
  cat > "$dir/$1.json" <<JSON
{
  "name": "$1",
  "seed": 1,
  "machine": {
    "cpus": 1,
    "memory": { "frames": 262144, "swapSlots": 1048576 },
    "pageTable": { "plugin": "x86-64", "options": { "levels": 4 } },
    "tlb": { "plugin": "fully-associative", "options": { "entries": 64, "policy": "lru" } },
    "faultHandlers": [ { "plugin": "cow" }, { "plugin": "demand-zero", "options": { "zeroPage": true } } ],
    "signals": { "plugin": "posix" }
  },
  "workload": { "plugin": "$2", "options": { "path": "$3" } }
}
JSON
}
config run-lackey lackey "$lackey"
config run-vmt vmt "$vmt"

now() { date +%s.%N; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), .NET $(dotnet --version)"
echo "trace: $lackey ($(stat -c %s "$lackey") bytes), $vmt ($(stat -c %s "$vmt") bytes)"
# sim: accesses / elapsedSeconds of --json (the simulation, wall clock); wall: accesses / the whole process's wall
# time; cpu: accesses / the process's user+system CPU time (all threads: JIT, GC, startup included), which a busy
# machine inflates far less than wall time.
printf '%-7s %4s %12s %9s %10s %8s %8s %8s %8s  %s\n' form run accesses tlb.hit% elapsed_s sim_M/s wall_M/s cpu_s cpu_M/s load1
for form in lackey vmt; do
  for ((r = 1; r <= runs; r++)); do
    python3 - "$dir/run-$form.out.json" "$form" "$r" "${vmlab[@]}" run "$dir/run-$form.json" --json "$dir/run-$form.out.json" <<'PY'
import json, os, resource, subprocess, sys, time
out, form, run, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# The difference of the children's usage before and after: the interpreter's own start-up may already have run
# child processes (a site-packages .pth hook), whose CPU time is not VmLab's.
before = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic()
subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (ru.ru_utime - before.ru_utime) + (ru.ru_stime - before.ru_stime)
d = json.load(open(out)); m = d["metrics"]; a = m["accesses"]
print(f"{form:<7} {run:>4} {a:>12,} {100*m['tlb.hits']/a:>8.3f}% {d['elapsedSeconds']:>10.3f} {a/d['elapsedSeconds']/1e6:>8.1f} "
      f"{a/wall/1e6:>8.1f} {cpu:>8.2f} {a/cpu/1e6:>8.1f}  {os.getloadavg()[0]:.2f}")
PY
  done
done

# CPU seconds (user + system) of one command, the best of --runs; its stdout and stderr are discarded (libCacheSim's
# cachesim logs to stderr), a failure still stops the script with the command and its exit status.
best_cpu() {
  python3 - "$runs" "$@" <<'PY'
import resource, subprocess, sys
runs, cmd = int(sys.argv[1]), sys.argv[2:]
best = None
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    best = cpu if best is None else min(best, cpu)
print(f"{best:.3f}")
PY
}

echo "== ratios (best of $runs runs each, CPU seconds, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$dir/lru-model" "$lackey" 64 >"$dir/lru-model.out"
echo "C model: $(cat "$dir/lru-model.out")"
c_cpu=$(best_cpu "$dir/lru-model" "$lackey" 64)
lackey_cpu=$(best_cpu "${vmlab[@]}" run "$dir/run-lackey.json")
vmt_cpu=$(best_cpu "${vmlab[@]}" run "$dir/run-vmt.json")
config tiny vmt "$root/configs/traces/tiny.vmt"
startup_cpu=$(best_cpu "${vmlab[@]}" run "$dir/tiny.json")
managed_line=""
if [ "${vmlab[0]}" != dotnet ]; then
  m_lackey=$(best_cpu "${managed[@]}" run "$dir/run-lackey.json")
  m_vmt=$(best_cpu "${managed[@]}" run "$dir/run-vmt.json")
  m_startup=$(best_cpu "${managed[@]}" run "$dir/tiny.json")
  managed_line=$(python3 -c "import sys; c,l,v,s=map(float,sys.argv[1:]); print(f'managed vmlab.dll: Lackey text {l:.3f} s ({c/l:.2f}x), .vmt {v:.3f} s ({c/v:.2f}x), start-up {s:.3f} s')" "$c_cpu" "$m_lackey" "$m_vmt" "$m_startup")
fi
libcachesim="not installed (cachesim not on PATH): see docs/performance.md for the recipe"
if command -v cachesim >/dev/null; then
  "$dir/lru-model" "$lackey" 64 "$dir/pages.oracleGeneral" >/dev/null
  # cachesim writes its result file (pages.oracleGeneral.cachesim) into the current folder: run it in $dir.
  lcs_cpu=$(cd "$dir" && best_cpu cachesim "$dir/pages.oracleGeneral" oracleGeneral lru 64 --ignore-obj-size 1)
  libcachesim=$(python3 -c "import sys; l,v,t=map(float,sys.argv[1:]); print(f'{l:.3f} s; VmLab uses {v/l:.2f}x its CPU on .vmt, {t/l:.2f}x on Lackey text')" "$lcs_cpu" "$vmt_cpu" "$lackey_cpu")
fi
dinero="not installed (dineroIV not on PATH): see docs/performance.md for the recipe"
if command -v dineroIV >/dev/null; then
  # The same accesses as din text (label address; a Lackey M is a read then a write), converted by vmlab once.
  din="$dir/arraypass-$passes.din"
  [ -s "$din" ] || "${vmlab[@]}" trace convert "$vmt" "$din" >/dev/null
  d4=(sh -c 'exec dineroIV -l1-usize 262144 -l1-ubsize 4096 -l1-uassoc 64 -l1-urepl l -informat d < "$1"' dinero "$din")
  echo "Dinero IV: $("${d4[@]}" | awk '/^ Demand Fetches/ {f=$3} /^ Demand Misses/ {m=$3} END {print "fetches " f " misses " m}')"
  d4_cpu=$(best_cpu "${d4[@]}")
  dinero=$(python3 -c "import sys; d,v,t=map(float,sys.argv[1:]); print(f'{d:.3f} s CPU on din text; Dinero IV / VmLab = {d/v:.2f}x on .vmt, {d/t:.2f}x on Lackey text')" "$d4_cpu" "$vmt_cpu" "$lackey_cpu")
fi
python3 - "$c_cpu" "$lackey_cpu" "$vmt_cpu" "$startup_cpu" "$libcachesim" "$dinero" "$managed_line" <<'PY'
import sys
c, lackey, vmt, startup = map(float, sys.argv[1:5])
print(f"C model (Lackey text, gcc -O2)      {c:8.3f} s CPU")
print(f"VmLab on Lackey text                {lackey:8.3f} s CPU   C model / VmLab = {c/lackey:5.2f}x")
print(f"VmLab on .vmt                       {vmt:8.3f} s CPU   C model / VmLab = {c/vmt:5.2f}x")
print(f"libCacheSim LRU (same page stream)  {sys.argv[5]}")
print(f"Dinero IV (64 x 4 KiB blocks, LRU)  {sys.argv[6]}")
print(f"start-up: vmlab run tiny.vmt        {startup:8.3f} s CPU   (target 0.100)")
if sys.argv[7]: print(sys.argv[7])
PY

[ "$sweep" = 1 ] || exit 0
cat > "$dir/sweep-vmt.json" <<JSON
{
  "name": "bench-sweep",
  "base": "run-vmt.json",
  "matrix": {
    "machine:tlb:options:entries": [16, 32, 64, 128],
    "machine:tlb:options:policy": ["lru", "fifo"]
  }
}
JSON
echo "== sweep: 8 cases over the vmt trace" >&2
rm -f "$dir/bench-sweep.db"*
t0=$(now)
"${vmlab[@]}" sweep "$dir/sweep-vmt.json" --jobs 2 --db "$dir/bench-sweep.db" | grep -E '^(sweep|shared traces)'
t1=$(now)
for entries in 16 32 64 128; do
  for policy in lru fifo; do
    "${vmlab[@]}" run "$dir/run-vmt.json" --set "machine:tlb:options:entries=$entries" --set "machine:tlb:options:policy=$policy" >/dev/null
  done
done
t2=$(now)
python3 - "$t0" "$t1" "$t2" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:4])
print(f"sweep --jobs 2: {t1-t0:.2f} s; 8 sequential runs: {t2-t1:.2f} s; speed-up {(t2-t1)/(t1-t0):.2f}x (load {sys.argv[4]})")
PY
