#!/usr/bin/env python3
"""The coverage table of the series: lines and branches of every C file the
series adds or changes (new files: all their lines; changed files: the
lines the series adds), per set of runs and over all of them.

coverage-table.py --tree QEMU_WORK_TREE --set NAME=GCOV:BUILD[:DATA] ...
                  [--json OUT] [--uncovered-src]

  --set NAME=GCOV:BUILD[:DATA]
        one set of runs: GCOV is the gcov of the compiler that built BUILD
        (gcov, aarch64-linux-gnu-gcov); the .gcno files are in BUILD, the
        .gcda files in DATA/<BUILD as an absolute path> (GCOV_PREFIX=DATA
        when the runs ran) or, without DATA, in BUILD itself.
  The line numbers of every set must be those of the work tree's HEAD (the
  cross build's source is the same base with the same patches).

Line coverage is gcov's: a line with code is covered when its count is
not 0.  Branches are gcov's branch arcs; across sets of one compiler they
are merged arc by arc; a line whose arcs differ between compilers (the
host and the cross build optimise differently) takes the set in which
most of its arcs were taken.  Files of the series that no set compiled
(not built into qemu-system-aarch64) are listed as such.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict

# what the series adds under hw/ is "the accelerated files"; their
# uncovered lines are listed
ACCEL = re.compile(r"^hw/arm/smmuv3-(accel[^/]*|veventq)\.c$")


def git(tree, *args):
    return subprocess.run(["git", "-C", tree] + list(args), check=True,
                          capture_output=True, text=True).stdout


def series_files(tree):
    """{path: None (new file: every line) or set of added line numbers}"""
    out = {}
    for line in git(tree, "diff", "--name-status", "base", "HEAD", "--",
                    "*.c").splitlines():
        status, path = line.split("\t", 1)
        if path.startswith("tests/"):
            continue
        out[path] = None if status.startswith("A") else set()
    cur = None
    for line in git(tree, "diff", "-U0", "base", "HEAD", "--",
                    *[p for p, v in out.items() if v is not None]).splitlines():
        if line.startswith("+++ "):
            cur = line[6:] if line.startswith("+++ b/") else None
            continue
        m = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
        if m and cur in out:
            start, n = int(m.group(1)), int(m.group(2) or 1)
            out[cur].update(range(start, start + n))
    return out


def gcda_files(root):
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".gcda"):
                yield os.path.join(d, f)


def object_wanted(name, stems):
    # meson names objects after the source path: hw_arm_smmuv3.c.gcda,
    # or with ../ parts for sources outside the target's directory
    return any(name.endswith(s) for s in stems)


def run_set(spec, files):
    """{path: {line: (count, [arc counts])}} of one set, merged over its
    objects (a file built into several objects counts where any ran)"""
    name, rest = spec.split("=", 1)
    parts = rest.split(":")
    gcov, build = parts[0], os.path.abspath(parts[1])
    data = os.path.abspath(parts[2]) if len(parts) > 2 and parts[2] else None
    droot = data + build if data else build
    stems = {p.replace("/", "_") + ".gcda" for p in files}
    result = defaultdict(dict)
    tmp = tempfile.mkdtemp(prefix="cov-")
    n = k = 0
    try:
        if not os.path.isdir(droot):
            return name, result, 0
        for gcda in gcda_files(droot):
            if not object_wanted(os.path.basename(gcda), stems):
                continue
            rel = os.path.relpath(gcda, droot)
            gcno = os.path.join(build, rel[:-5] + ".gcno")
            if not os.path.exists(gcno):
                print(f"warning: {name}: no {gcno} for {gcda}", file=sys.stderr)
                continue
            # gcda and gcno side by side in a scratch copy
            k += 1
            d = os.path.join(tmp, str(k))
            os.makedirs(d)
            base = os.path.basename(rel)[:-5]
            shutil.copy(gcda, os.path.join(d, base + ".gcda"))
            os.symlink(gcno, os.path.join(d, base + ".gcno"))
            p = subprocess.run([gcov, "--json-format", "--stdout",
                                "--branch-probabilities",
                                os.path.join(d, base + ".gcda")],
                               cwd=build, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"warning: {name}: {gcov} {rel}: {p.stderr.strip()}",
                      file=sys.stderr)
                continue
            n += 1
            for doc in p.stdout.splitlines():
                if not doc.strip():
                    continue
                j = json.loads(doc)
                cwd = j.get("current_working_directory", build)
                for f in j["files"]:
                    path = os.path.normpath(os.path.join(cwd, f["file"]))
                    key = next((s for s in files
                                if path.endswith("/" + s)), None)
                    if key is None:
                        continue
                    lines = result[key]
                    for ln in f["lines"]:
                        no = ln["line_number"]
                        arcs = [b["count"] for b in ln.get("branches", [])
                                if not b.get("throw")]
                        cnt, old = lines.get(no, (0, None))
                        if old is None or len(old) != len(arcs):
                            old = arcs if old is None or len(arcs) > len(old) else old
                            merged = old
                        else:
                            merged = [a + b for a, b in zip(old, arcs)]
                        lines[no] = (cnt + ln["count"], merged)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return name, result, n


def merge(sets):
    """the union of several sets: {path: {line: (covered, [arc taken])}}"""
    out = defaultdict(dict)
    for _, res, _ in sets:
        for path, lines in res.items():
            for no, (cnt, arcs) in lines.items():
                taken = [a > 0 for a in arcs]
                cov, old = out[path].get(no, (False, None))
                if old is None:
                    new = taken
                elif len(old) == len(taken):
                    new = [a or b for a, b in zip(old, taken)]
                else:
                    new = old if sum(old) >= sum(taken) else taken
                out[path][no] = (cov or cnt > 0, new)
    return out


def tally(lines, wanted):
    """(lines covered, lines, arcs taken, arcs, uncovered line numbers)"""
    lc = lt = bc = bt = 0
    unc = []
    for no, (cov, arcs) in sorted(lines.items()):
        if wanted is not None and no not in wanted:
            continue
        lt += 1
        if cov:
            lc += 1
        else:
            unc.append(no)
        bt += len(arcs)
        bc += sum(1 for a in arcs if a)
    return lc, lt, bc, bt, unc


def pct(a, b):
    return f"{100.0 * a / b:5.1f}%" if b else "    -"


def ranges(nums):
    out = []
    for n in nums:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--set", action="append", required=True, dest="sets")
    ap.add_argument("--json")
    ap.add_argument("--uncovered-src", action="store_true",
                    help="print the source text of the accelerated files' uncovered lines")
    ap.add_argument("--union", action="append", default=[],
                    help="NAME=SET,SET...: one more column, the union of "
                    "these sets (the sets of make check, say)")
    ap.add_argument("--branches-of",
                    help="a set or union: list the accelerated files' "
                    "lines whose branch arcs it did not all take")
    a = ap.parse_args()

    files = series_files(a.tree)
    sets = []
    for spec in a.sets:
        name, res, n = run_set(spec, files)
        sets.append((name, res, n))
        print(f"set {name}: {n} objects with data", file=sys.stderr)
    views = [(name, {p: {no: (c > 0, [x > 0 and 1 or 0 for x in arcs])
                         for no, (c, arcs) in lines.items()}
                     for p, lines in res.items()})
             for name, res, _ in sets]
    for u in a.union:
        uname, members = u.split("=", 1)
        members = members.split(",")
        views.append((uname, merge([x for x in sets if x[0] in members])))
    views.append(("all", merge(sets)))

    hdr = f"{'file (new: all lines; changed: added lines)':<44}"
    for name, _ in views:
        hdr += f" {name + ' lines':>22} {name + ' br':>9}"
    print(hdr)
    print("-" * len(hdr))
    acc = {name: [0, 0, 0, 0] for name, _ in views}
    summary = {}
    for path in sorted(files, key=lambda p: (not ACCEL.match(p), p)):
        wanted = files[path]
        row = f"{path + (' (new)' if wanted is None else ''):<44}"
        built = False
        for name, view in views:
            lines = view.get(path)
            if not lines:
                row += f" {'-':>22} {'-':>9}"
                continue
            built = True
            lc, lt, bc, bt, unc = tally(lines, wanted)
            row += f" {f'{lc}/{lt} {pct(lc, lt)}':>22} {pct(bc, bt):>9}"
            if ACCEL.match(path):
                for i, v in enumerate((lc, lt, bc, bt)):
                    acc[name][i] += v
            summary.setdefault(path, {})[name] = {
                "lines": [lc, lt], "branches": [bc, bt], "uncovered": unc}
        if not built:
            row += "   (in no build of these sets)"
        print(row)
    print("-" * len(hdr))
    row = f"{'accelerated files together':<44}"
    for name, _ in views:
        lc, lt, bc, bt = acc[name]
        row += f" {f'{lc}/{lt} {pct(lc, lt)}':>22} {f'{pct(bc, bt)}':>9}"
    print(row)
    lc, lt, bc, bt = acc["all"]
    print(f"accelerated files, all sets: lines {pct(lc, lt).strip()} "
          f"(target 95%), branches {bc}/{bt} {pct(bc, bt).strip()} (target 85%)")
    for u in a.union:
        uname = u.split("=", 1)[0]
        lc, lt, bc, bt = acc[uname]
        print(f"accelerated files, {uname} ({u.split('=', 1)[1]}): lines "
              f"{lc}/{lt} {pct(lc, lt).strip()} (target 95%), branches "
              f"{bc}/{bt} {pct(bc, bt).strip()} (target 85%)")
    for name, _, _ in sets:
        c = acc[name]
        print(f"accelerated files, {name} alone: lines {c[0]}/{c[1]} "
              f"{pct(c[0], c[1]).strip()}, branches {pct(c[2], c[3]).strip()}")

    print("\nuncovered lines of the accelerated files (all sets):")
    for path in sorted(files):
        if not ACCEL.match(path) or path not in summary:
            continue
        unc = summary[path]["all"]["uncovered"]
        print(f"  {path}: {ranges(unc) or 'none'}")
        if a.uncovered_src and unc:
            src = open(os.path.join(a.tree, path)).read().splitlines()
            for no in unc:
                print(f"    {no:5}: {src[no - 1].strip()}")
    if a.branches_of:
        view = dict(views)[a.branches_of]
        print(f"\nlines of the accelerated files with branch arcs not "
              f"taken ({a.branches_of}: taken/arcs):")
        for path in sorted(files):
            if not ACCEL.match(path) or path not in view:
                continue
            src = open(os.path.join(a.tree, path)).read().splitlines()
            for no, (cov, arcs) in sorted(view[path].items()):
                if arcs and not all(arcs):
                    print(f"  {path}:{no} {sum(1 for x in arcs if x)}/"
                          f"{len(arcs)}: {src[no - 1].strip()}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
