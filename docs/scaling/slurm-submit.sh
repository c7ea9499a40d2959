#!/bin/bash
# Submits a sweep as an array of N shards (slurm-sweep.sh) and the merge that follows it (slurm-merge.sh).
#   docs/scaling/slurm-submit.sh <sweep.json> <results-folder> <N> [sbatch option]... [-- vmlab sweep option...]
#   docs/scaling/slurm-submit.sh configs/sweeps/tlb-size-policy.json results 8 -c 4 --mem=4G --time=04:00:00 -p batch
# The sbatch options go to both jobs (partition, account, cores, memory, time, --chdir); the vmlab sweep options
# after `--` (--set, --isolation, --progress-interval...) to every shard.
set -euo pipefail
usage="usage: slurm-submit.sh <sweep.json> <results-folder> <N> [sbatch option]... [-- vmlab sweep option...]"
if [ $# -lt 3 ]; then echo "$usage" >&2; exit 2; fi
SWEEP=$1 OUT=$2 N=$3
shift 3
if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then echo "slurm-submit.sh: <N> is the number of shards, a whole number >= 1; got '$N'" >&2; exit 2; fi
sbatch_options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sbatch_options+=("$1"); shift; done
[ $# -gt 0 ] && shift   # the --
HERE=$(cd "$(dirname "$0")" && pwd)

array=$(sbatch --parsable --array="1-$N" "${sbatch_options[@]}" "$HERE/slurm-sweep.sh" "$SWEEP" "$OUT" "$N" "$@")
array=${array%%;*}   # "id;cluster" on a federation
merge=$(sbatch --parsable --dependency="afterany:$array" "${sbatch_options[@]}" "$HERE/slurm-merge.sh" "$OUT" "$N")
merge=${merge%%;*}
echo "sweep array job $array (shards 1-$N), merge job $merge"
