#!/usr/bin/env python3
"""Builds a ChampSim input_instr trace (64-byte records) from a Lackey trace, for tests and examples.

Each `I` line starts an instruction: ip = its address. The data lines that follow it, up to the next `I`, become its
memory operands: `L` a source (load), `S` a destination (store), `M` both. ChampSim holds at most 4 sources and
2 destinations; further operands of the same instruction are dropped. Register fields and branch bytes are zero.

usage: lackey2champsim.py < tiny.lackey > tiny.champsim   (then: xz -9 tiny.champsim)
"""
import struct
import sys


def flush(out, ip, sources, destinations):
    if ip is None:
        return
    src = (sources + [0, 0, 0, 0])[:4]
    dst = (destinations + [0, 0])[:2]
    out.write(struct.pack("<QBB2B4B2Q4Q", ip, 0, 0, 0, 0, 0, 0, 0, 0, *dst, *src))


def main():
    out = sys.stdout.buffer
    ip, sources, destinations = None, [], []
    for line in sys.stdin:
        line = line.strip()
        if not line or line.startswith("=="):
            continue
        kind, rest = line.split(None, 1)
        address = int(rest.split(",")[0], 16)
        if kind == "I":
            flush(out, ip, sources, destinations)
            ip, sources, destinations = address, [], []
        elif ip is not None:
            if kind in ("L", "M"):
                sources.append(address)
            if kind in ("S", "M"):
                destinations.append(address)
    flush(out, ip, sources, destinations)


if __name__ == "__main__":
    main()
