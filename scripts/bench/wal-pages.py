#!/usr/bin/env python3
"""Where a SQLite WAL's pages go: each commit's frames mapped to the tables and indexes they belong to.

Usage: wal-pages.py DB WAL [FROM]
  DB, WAL  a copy of the coordinator's SQLite database and of its -wal file, taken together while it runs
           (`cp coordinator.db coordinator.db-wal DIR/`; under `make run` they are in .zedge-dev/, under
           `zedge-bench creates --database sqlite:///tmp/bench.db` in /tmp). The coordinator checkpoints the WAL
           once it passes 16 MiB (`SQLiteStore.checkpointBytes`), a few seconds of creates, and a copy holds what
           was written since; to count a whole run, measure a build with `checkpointBytes` raised. A cleanly
           stopped coordinator leaves no -wal file.
  FROM     the fraction of the WAL's commits to skip first (0.5: the second half, past a run's warm-up).

Prints, per kind of commit (the set of objects its frames touched), how many commits and their pages each, the
most pages first. Page-to-object from SQLite's dbstat virtual table (https://sqlite.org/dbstat.html) on the copy
opened with its WAL; WAL frames as https://sqlite.org/fileformat2.html#walformat lays them out (a 32-byte header;
per frame a 24-byte header: page number, the database's size in pages after a commit frame, else 0, two salts,
two checksums), frames whose salts are not the header's skipped.
"""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile


def frames(wal):
    with open(wal, "rb") as f:
        header = f.read(32)
        magic, _, page_size, _, salt1, salt2 = struct.unpack(">IIIIII", header[:24])
        if magic not in (0x377F0682, 0x377F0683):
            sys.exit(f"{wal}: not a SQLite WAL (magic {magic:#x})")
        while True:
            frame = f.read(24)
            if len(frame) < 24:
                return page_size
            page, commit_size, s1, s2 = struct.unpack(">IIII", frame[:16])
            if (s1, s2) != (salt1, salt2):
                return page_size
            f.seek(page_size, os.SEEK_CUR)
            yield page, commit_size != 0


def main():
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    db, wal = sys.argv[1], sys.argv[2]
    for path in (db, wal):
        if not os.path.isfile(path):
            sys.exit(f"wal-pages.py: no file {path}")
    skip = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "db")
        shutil.copyfile(db, copy)
        shutil.copyfile(wal, copy + "-wal")
        with sqlite3.connect(copy) as connection:
            owner = dict((page, name) for name, page in connection.execute("SELECT name, pageno FROM dbstat"))
    commits, pages = [], []
    for page, is_commit in frames(wal):
        pages.append(page)
        if is_commit:
            commits.append(pages)
            pages = []
    kept = commits[int(len(commits) * skip):]
    kinds = collections.defaultdict(list)
    for commit in kept:
        objects = tuple(sorted({owner.get(p, "page 1" if p == 1 else "(free or new)") for p in commit}))
        kinds[objects].append(len(commit))
    total = sum(len(c) for c in kept)
    print(f"{len(kept)} commits, {total} frames ({total / max(len(kept), 1):.1f} pages each) of {len(commits)} in the WAL")
    print("commits\tpages each (mean)\tobjects")
    for objects, sizes in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
        print(f"{len(sizes)}\t{sum(sizes) / len(sizes):.1f}\t{', '.join(objects)}")


if __name__ == "__main__":
    main()
