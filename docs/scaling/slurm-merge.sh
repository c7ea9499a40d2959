#!/bin/bash
# Merges the N shard databases of a sweep and writes the report. Submit after the array job (slurm-submit.sh does):
#   sbatch --dependency=afterany:<array job id> [sbatch options] docs/scaling/slurm-merge.sh <results-folder> <N>
# A missing shard is named and left out: the merged database holds what exists, and the report says how many cases of
# the sweep have results. Run the missing shards again (sbatch --array=3,5 slurm-sweep.sh ...) and this script again.
#SBATCH --job-name=vmlab-merge
#SBATCH --open-mode=append
#SBATCH --output=vmlab-merge-%j.log
set -uo pipefail

usage="usage: sbatch slurm-merge.sh <results-folder> <N>"
if [ $# -ne 2 ]; then echo "$usage" >&2; exit 2; fi
OUT=$1 N=$2
VMLAB=${VMLAB:-"dotnet $HOME/vmlab/vmlab.dll"}
if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then echo "slurm-merge.sh: <N> is the number of shards, a whole number >= 1; got '$N'" >&2; exit 2; fi

shards=() missing=()
for ((k = 1; k <= N; k++)); do
    if [ -f "$OUT/shard-$k-of-$N.db" ]; then shards+=("$OUT/shard-$k-of-$N.db"); else missing+=("$k"); fi
done
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) slurm-merge: ${#shards[@]} of $N shard database(s) in $OUT${missing[*]:+; missing shard(s): ${missing[*]}}"
if [ ${#shards[@]} -eq 0 ]; then echo "slurm-merge.sh: no shard database in $OUT (shard-K-of-$N.db)" >&2; exit 1; fi

$VMLAB merge "${shards[@]}" -o "$OUT/all.db" || exit $?
$VMLAB report "$OUT/all.db" --html "$OUT/report.html" --csv "$OUT/report.csv" || exit $?
[ ${#missing[@]} -eq 0 ] || exit 1
