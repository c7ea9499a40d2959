#!/usr/bin/env python3
"""Runs each experiment or scenario given with the native command and the managed one beside it and compares them.

    bench/compare-native.py configs/*.json configs/scenarios/*.vms ...

Runs `artifacts/vmlab/vmlab-native run FILE --json -` and `dotnet artifacts/vmlab/vmlab.dll run FILE --json -` (build
both with ./vmlab first) from the repository root, and prints each file whose exit code, JSON (less elapsedSeconds) or,
for bad input, error output differs, then the count and the CPU time (user + system) each command took in all.
Exits 1 when any file differs.
"""
import json, os, resource, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
native = [os.path.join(root, "artifacts", "vmlab", "vmlab-native")]
managed = ["dotnet", os.path.join(root, "artifacts", "vmlab", "vmlab.dll")]


def run(command, path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(command + ["run", path, "--json", "-"], capture_output=True, text=True, cwd=root, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


differ = 0
cpu_native = cpu_managed = 0.0
for path in sys.argv[1:]:
    pn, cn = run(native, path)
    pm, cm = run(managed, path)
    cpu_native += cn
    cpu_managed += cm
    if pn.returncode != pm.returncode:
        print(f"{path}: exit {pn.returncode} native, {pm.returncode} managed")
        differ += 1
    elif pm.returncode not in (0, 1):
        if pn.stderr != pm.stderr:
            print(f"{path}: the error output differs")
            differ += 1
    else:
        a, b = json.loads(pn.stdout), json.loads(pm.stdout)
        a.pop("elapsedSeconds", None)
        b.pop("elapsedSeconds", None)
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if keys:
            print(f"{path}: {', '.join(keys)} differ")
            differ += 1
print(f"{len(sys.argv) - 1} files, {differ} differ; CPU native {cpu_native:.2f} s, managed {cpu_managed:.2f} s")
sys.exit(1 if differ else 0)
