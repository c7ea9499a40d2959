#!/bin/bash
# One shard of a VmLab sweep per Slurm array task: array task K runs shard K of N; a dependent job merges the shards.
#
#   sbatch --array=1-8 [sbatch options] docs/scaling/slurm-sweep.sh <sweep.json> <results-folder> 8 [vmlab sweep options]
#   sbatch --array=3,5 ... docs/scaling/slurm-sweep.sh <sweep.json> <results-folder> 8     # shards 3 and 5 of 8 again
#   (slurm-submit.sh submits the array and the merge; see docs/scaling.md)
#
# N is given, and K is the array task id itself, so any subset of 1..N runs the right shards. The shard runs into a
# database on node-local disk ($TMPDIR: SQLite's WAL mode needs a local file system), which is copied whole to
# <results-folder>/shard-K-of-N.db with `vmlab merge` (one input: an atomic copy without the WAL files) every
# VMLAB_COPY_EVERY seconds (default 300), when the job is sent SIGTERM (scancel, requeue, preemption, the time limit)
# and at the end. A task requeued or run again, on any node, starts from that copy and runs only the unfinished cases.
# Cores, memory, time, partition: sbatch options (`-c 4` runs 4 cases at once); the script asks for none.
#SBATCH --job-name=vmlab-sweep
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=vmlab-sweep-%A_%a.log
set -uo pipefail

usage="usage: sbatch --array=1-N [sbatch options] slurm-sweep.sh <sweep.json> <results-folder> <N> [vmlab sweep options]"
if [ $# -lt 3 ]; then echo "$usage" >&2; exit 2; fi
SWEEP=$1 OUT=$2 N=$3
shift 3
VMLAB=${VMLAB:-"dotnet $HOME/vmlab/vmlab.dll"}   # the published vmlab (./vmlab publishes it to artifacts/vmlab/)
COPY_EVERY=${VMLAB_COPY_EVERY:-300}

stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }
say() { echo "$(stamp) slurm-sweep: $*"; }

if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then
    echo "slurm-sweep.sh: <N> (the third argument) is the number of shards, a whole number >= 1; got '$N'" >&2; exit 2
fi
if ! [[ "$COPY_EVERY" =~ ^[1-9][0-9]*$ ]]; then
    echo "slurm-sweep.sh: VMLAB_COPY_EVERY is a number of seconds >= 1; got '$COPY_EVERY'" >&2; exit 2
fi
K=${SLURM_ARRAY_TASK_ID:-}
if ! [[ "$K" =~ ^[0-9]+$ ]] || [ "$K" -lt 1 ] || [ "$K" -gt "$N" ]; then
    echo "slurm-sweep.sh: array task id '${K}' is not a shard of $N: submit with --array ids from 1 to $N (e.g. --array=1-$N, or --array=3 for shard 3 alone)" >&2
    exit 2
fi

SHARED="$OUT/shard-$K-of-$N.db"
LOCAL="${TMPDIR:-/tmp}/vmlab-${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-0}}-$K-of-$N.db"
mkdir -p "$OUT" || exit 2
say "shard $K/$N of $SWEEP on $(hostname), job ${SLURM_JOB_ID:-?} (array ${SLURM_ARRAY_JOB_ID:-?} task $K), restart ${SLURM_RESTART_COUNT:-0}"

# Start from what this shard finished before: the shared copy, joined with a local database a killed run on this
# node left behind (merge keeps each case's completed result). A local file's WAL is part of it until merged.
if [ -f "$LOCAL" ] && [ -f "$SHARED" ]; then
    $VMLAB merge "$LOCAL" "$SHARED" -o "$LOCAL.joined" >/dev/null && rm -f "$LOCAL-wal" "$LOCAL-shm" && mv "$LOCAL.joined" "$LOCAL"
elif [ -f "$SHARED" ]; then
    rm -f "$LOCAL-wal" "$LOCAL-shm"
    cp "$SHARED" "$LOCAL"
fi
if [ -f "$LOCAL" ]; then say "resuming from $SHARED"; fi

# The local database, whole, to shared storage (written beside $SHARED and renamed: never half a file).
copy() {
    [ -f "$LOCAL" ] || return 0
    if $VMLAB merge "$LOCAL" -o "$SHARED" >/dev/null; then say "copied to $SHARED"; else say "copy to $SHARED failed"; fi
}

$VMLAB sweep "$SWEEP" --db "$LOCAL" --shard "$K/$N" --jobs "${SLURM_CPUS_PER_TASK:-1}" "$@" &
sweep=$!
# SIGTERM reaches every process of the job; vmlab stops starting cases, keeps the finished ones and exits 130.
trap 'say "SIGTERM: stopping the shard"; kill -TERM "$sweep" 2>/dev/null' TERM
# A background command of a non-interactive shell ignores SIGINT: Ctrl+C (run by hand) is passed on as SIGTERM.
trap 'kill -TERM "$sweep" 2>/dev/null' INT

# Periodic copies, one at a time; stopping the copier waits for a copy under way.
(
    trap 'kill "$!" 2>/dev/null; exit 0' TERM
    while :; do
        sleep "$COPY_EVERY" & wait $!
        copy
    done
) &
copier=$!

status=0
wait "$sweep"; status=$?
while kill -0 "$sweep" 2>/dev/null; do wait "$sweep"; status=$?; done   # a trap interrupted the wait
kill -TERM "$copier" 2>/dev/null
wait "$copier" 2>/dev/null

# 0: every case completed; 1: some case failed (recorded in the database); 130 or killed: the cases finished so far
# are in the database; 2: bad input, nothing ran.
if [ "$status" -ne 2 ]; then copy; fi
rm -f "$LOCAL" "$LOCAL-wal" "$LOCAL-shm"
say "exit $status"
exit "$status"
