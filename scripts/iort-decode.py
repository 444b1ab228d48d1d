#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Decode the nodes of an ACPI IORT blob, RMR nodes included.

Debian 12's iasl (20200925) predates IORT RMR nodes and prints them as
"Unknown IORT node type 0x6".  This prints every node of the table in one
line each, from the layout in ARM DEN 0049E (IORT): node header (type,
length, revision, identifier, ID mapping count and offset), the fields the
checks need, and each ID mapping.

usage: iort-decode.py IORT-BLOB [--expect-rmr N] [--expect-ats A]
With --expect-rmr, exit 1 unless the table has revision >= 5 and exactly N
RMR nodes, each with at least one ID mapping to an SMMUv3 node and one
memory range.
"""
import struct
import sys

NODE_NAMES = {0: "ITS group", 1: "named component", 2: "root complex",
              3: "SMMUv1/v2", 4: "SMMUv3", 5: "PMCG", 6: "RMR"}


def id_mappings(blob, node, count, offset):
    maps = []
    for i in range(count):
        ib, n, ob, ref, flags = struct.unpack_from(
            "<IIIII", blob, node + offset + 20 * i)
        maps.append((ib, n + 1, ob, ref, flags))
    return maps


def decode(blob):
    sig, length, rev = struct.unpack_from("<4sIB", blob, 0)
    if sig != b"IORT":
        raise ValueError("not an IORT (signature %r)" % sig)
    count, first = struct.unpack_from("<II", blob, 36)
    nodes = []
    off = first
    for _ in range(count):
        ntype, nlen, nrev, ident, nmaps, mapoff = struct.unpack_from(
            "<BHBIII", blob, off)
        node = {"offset": off, "type": ntype, "revision": nrev,
                "id": ident, "maps": id_mappings(blob, off, nmaps, mapoff)}
        if ntype == 4:
            node["base"] = struct.unpack_from("<Q", blob, off + 16)[0]
        if ntype == 6:
            flags, ndesc, descoff = struct.unpack_from("<III", blob, off + 16)
            node["flags"] = flags
            node["ranges"] = [struct.unpack_from("<QQ", blob,
                                                 off + descoff + 20 * i)
                              for i in range(ndesc)]
        nodes.append(node)
        off += nlen
    return rev, length, nodes


def main():
    args = sys.argv[1:]
    expect = None
    if "--expect-rmr" in args:
        i = args.index("--expect-rmr")
        expect = int(args[i + 1])
        del args[i:i + 2]
    expect_ats = None
    if "--expect-ats" in args:
        i = args.index("--expect-ats")
        expect_ats = int(args[i + 1], 0)
        del args[i:i + 2]
    blob = open(args[0], "rb").read()
    rev, length, nodes = decode(blob)
    print("IORT revision %d, %d bytes, %d nodes" % (rev, length, len(nodes)))
    by_offset = {n["offset"]: n for n in nodes}
    for n in nodes:
        line = "  [0x%03x] %s (rev %d, id %d)" % (
            n["offset"], NODE_NAMES.get(n["type"], "type %d" % n["type"]),
            n["revision"], n["id"])
        if "base" in n:
            line += " base 0x%x" % n["base"]
        if n["type"] == 2:
            # root complex: the ATS Attribute after the memory access
            # properties (IORT E.d, table 17)
            n["ats"] = struct.unpack_from("<I", blob, n["offset"] + 24)[0]
            line += " ATS attribute 0x%x" % n["ats"]
        if n["type"] == 6:
            line += " flags 0x%x (remapping %s, access attributes 0x%x)" % (
                n["flags"], "permitted" if n["flags"] & 1 else "forbidden",
                (n["flags"] >> 2) & 0xff)
            for base, size in n["ranges"]:
                line += " range 0x%x+0x%x" % (base, size)
        print(line)
        for ib, cnt, ob, ref, flags in n["maps"]:
            target = by_offset.get(ref)
            tname = NODE_NAMES.get(target["type"], "?") if target else "?"
            print("      IDs 0x%04x-0x%04x -> 0x%04x.. at [0x%03x] %s%s" % (
                ib, ib + cnt - 1, ob, ref, tname,
                " (single)" if flags & 1 else ""))
    if expect_ats is not None:
        got = [n["ats"] for n in nodes if n["type"] == 2]
        ok = got == [expect_ats]
        print("%s: root complex ATS attribute %s, 0x%x expected" % (
            "OK" if ok else "MISMATCH", got, expect_ats))
        if not ok:
            return 1
    if expect is None:
        return 0
    rmrs = [n for n in nodes if n["type"] == 6]
    ok = rev >= 5 and len(rmrs) == expect
    for n in rmrs:
        ok = ok and n["ranges"] and n["maps"] and all(
            by_offset.get(m[3], {}).get("type") == 4 for m in n["maps"])
    print("%s: revision %d, %d RMR node(s), %d expected" % (
        "OK" if ok else "MISMATCH", rev, len(rmrs), expect))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
