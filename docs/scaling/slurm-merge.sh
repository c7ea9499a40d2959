#!/bin/bash
# Merges the shard databases of a sweep and writes the report. Submit after the array job:
#   sbatch --dependency=afterany:<array job id> docs/scaling/slurm-merge.sh results
#SBATCH --job-name=vmlab-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=00:30:00
#SBATCH --output=vmlab-merge-%j.log
set -euo pipefail

OUT=${1:?usage: sbatch slurm-merge.sh <results-folder>}
VMLAB=${VMLAB:-"dotnet $HOME/vmlab/vmlab.dll"}

$VMLAB merge "$OUT"/shard-*-of-*.db -o "$OUT/all.db"
$VMLAB report "$OUT/all.db" --html "$OUT/report.html" --csv "$OUT/report.csv"
