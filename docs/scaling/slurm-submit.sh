#!/bin/bash
# Submits a sweep as an N-task array job and the merge that follows it.
#   docs/scaling/slurm-submit.sh configs/sweeps/tlb-size-policy.json results 8
set -euo pipefail
SWEEP=${1:?usage: slurm-submit.sh <sweep.json> <results-folder> <shards>}
OUT=${2:?usage: slurm-submit.sh <sweep.json> <results-folder> <shards>}
N=${3:?usage: slurm-submit.sh <sweep.json> <results-folder> <shards>}
HERE=$(cd "$(dirname "$0")" && pwd)

array=$(sbatch --parsable --array="1-$N" "$HERE/slurm-sweep.sh" "$SWEEP" "$OUT")
merge=$(sbatch --parsable --dependency="afterany:${array%%;*}" "$HERE/slurm-merge.sh" "$OUT")
echo "sweep array job $array, merge job $merge"
