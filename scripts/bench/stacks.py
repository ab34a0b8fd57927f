#!/usr/bin/env python3
"""The functions a `perf script` profile spends its samples in (scripts/bench/profile.sh writes one).

Usage: stacks.py STACKS [THREAD] [N]
  STACKS   `perf script` output: per sample a header line (thread name, pid/tid, time, event) and one line per frame
  THREAD   only samples of threads whose name starts with it (e.g. NIO-ELT, "sqlite", the cooperative pool's
           "swift"); "" for all
  N        rows per table (default 30)

Prints the threads' share of the samples, then per function its self share (the sample's innermost frame) and its
inclusive share (in the sample's stack at all, counted once per sample), as percentages of the samples kept.
Swift symbols are shown as perf wrote them; pipe through `swift demangle --simplified` to read them.
"""
import collections
import os
import re
import sys

FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def samples(path):
    thread, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if thread is not None:
                    yield thread, frames
                thread, frames = None, []
            elif not line[0].isspace():
                thread = line.split(None, 1)[0]
            else:
                match = FRAME.match(line)
                if match:
                    symbol = re.sub(r"\+0x[0-9a-f]+$", "", match.group(1))
                    dso = match.group(2).rsplit("/", 1)[-1]
                    frames.append(symbol if symbol != "[unknown]" else f"[unknown] in {dso}")
    if thread is not None:
        yield thread, frames


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    if not os.path.isfile(sys.argv[1]):
        sys.exit(f"stacks.py: no file {sys.argv[1]}")
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    threads, own, inclusive, kept, total = collections.Counter(), collections.Counter(), collections.Counter(), 0, 0
    for thread, frames in samples(sys.argv[1]):
        total += 1
        threads[thread] += 1
        if not thread.startswith(prefix) or not frames:
            continue
        kept += 1
        own[frames[0]] += 1
        for symbol in set(frames):
            inclusive[symbol] += 1
    if not kept:
        sys.exit(f"no samples of threads named {prefix!r}* in {sys.argv[1]} ({total} samples in all)")
    print(f"{total} samples; threads:")
    for thread, n in threads.most_common(12):
        print(f"  {100 * n / total:5.1f} %  {thread}")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title}, % of the {kept} samples of {prefix or 'every thread'}:")
        for symbol, n in counter.most_common(rows):
            print(f"  {100 * n / kept:5.1f}  {symbol[:160]}")


if __name__ == "__main__":
    main()
