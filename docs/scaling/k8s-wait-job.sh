#!/bin/bash
# Waits until a Kubernetes Job completes or fails, and says which (`kubectl wait --for=condition=complete` alone never
# returns when the Job fails). Exit 0: complete; 1: failed (its failed indexes and reason are printed); 3: timed out.
#   docs/scaling/k8s-wait-job.sh vmlab-sweep 24h
# Seconds between checks: WAIT_EVERY (default 10). Extra kubectl options (-n namespace, --context): KUBECTL_OPTIONS.
set -uo pipefail
usage="usage: k8s-wait-job.sh <job-name> [timeout: 90s, 30m, 24h; default 24h]"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "$usage" >&2; exit 2; fi
JOB=$1 TIMEOUT=${2:-24h} EVERY=${WAIT_EVERY:-10}
read -r -a options <<< "${KUBECTL_OPTIONS:-}"
case "$TIMEOUT" in
    *[0-9]s) limit=${TIMEOUT%s} ;;
    *[0-9]m) limit=$(( ${TIMEOUT%m} * 60 )) ;;
    *[0-9]h) limit=$(( ${TIMEOUT%h} * 3600 )) ;;
    *) echo "k8s-wait-job.sh: timeout '$TIMEOUT': a whole number followed by s, m or h" >&2; exit 2 ;;
esac
deadline=$(( $(date +%s) + limit ))
while :; do
    # The conditions that hold, one type per line: Complete or Failed end the Job (FailureTarget and
    # SuccessCriteriaMet come first on newer clusters, while its last pods stop).
    if conditions=$(kubectl "${options[@]}" get "job/$JOB" -o 'jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{"\n"}{end}'); then
        if grep -qx Complete <<< "$conditions"; then echo "job $JOB: complete"; exit 0; fi
        if grep -qx Failed <<< "$conditions"; then
            detail=$(kubectl "${options[@]}" get "job/$JOB" -o 'jsonpath=failed indexes: {.status.failedIndexes}; {range .status.conditions[?(@.type=="Failed")]}{.reason}: {.message}{end}')
            echo "job $JOB: failed; $detail" >&2
            exit 1
        fi
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "job $JOB: neither complete nor failed after $TIMEOUT" >&2; exit 3; fi
    sleep "$EVERY"
done
