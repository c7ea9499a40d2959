#!/bin/bash
# One shard of a VmLab sweep per Slurm array task; a dependent job merges the shards.
#
#   sbatch --array=1-8 docs/scaling/slurm-sweep.sh configs/sweeps/tlb-size-policy.json results
#   (after it: see slurm-merge.sh, or submit both with slurm-submit.sh)
#
# Each task runs shard K of N (N = the number of array tasks) into a database on node-local disk, then copies it
# whole to the shared results folder with `vmlab merge` (one input: an atomic copy without the WAL files).
# A task that is requeued or run again starts from its earlier copy and runs only the unfinished cases.
#SBATCH --job-name=vmlab-sweep
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=vmlab-sweep-%A_%a.log
set -euo pipefail

SWEEP=${1:?usage: sbatch --array=1-N slurm-sweep.sh <sweep.json> <results-folder>}
OUT=${2:?usage: sbatch --array=1-N slurm-sweep.sh <sweep.json> <results-folder>}
VMLAB=${VMLAB:-"dotnet $HOME/vmlab/vmlab.dll"}   # the built src/VmLab.Cli/bin/Release/net10.0/ copied to ~/vmlab

N=${SLURM_ARRAY_TASK_COUNT:?run this as an array job: sbatch --array=1-N}
K=$(( SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1 ))
SHARED="$OUT/shard-$K-of-$N.db"
LOCAL="${TMPDIR:-/tmp}/vmlab-$SLURM_JOB_ID-$K.db"

mkdir -p "$OUT"
if [ -f "$SHARED" ]; then cp "$SHARED" "$LOCAL"; fi

status=0
$VMLAB sweep "$SWEEP" --db "$LOCAL" --shard "$K/$N" --jobs "${SLURM_CPUS_PER_TASK:-1}" || status=$?
# 0: every case completed; 1: some case failed (recorded in the database); anything else: the sweep did not run.
if [ "$status" -le 1 ]; then
    $VMLAB merge "$LOCAL" -o "$SHARED"
fi
rm -f "$LOCAL" "$LOCAL-wal" "$LOCAL-shm"
exit "$status"
