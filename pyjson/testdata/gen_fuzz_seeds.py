#!/usr/bin/env python3
"""Write the seed corpus of FuzzPySpaced (fuzz/FuzzPySpaced/): every distinct
bus_bus.message of testdata/captures/*/bus_bus_rows.json, in Go's fuzz corpus
format. Run from this directory: python3 gen_fuzz_seeds.py"""
import glob
import hashlib
import json
import os

out_dir = os.path.join("fuzz", "FuzzPySpaced")
os.makedirs(out_dir, exist_ok=True)


def go_bytes_literal(b):
    s = []
    for c in b:
        if 0x20 <= c < 0x7f and c not in (0x22, 0x5c):
            s.append(chr(c))
        else:
            s.append("\\x%02x" % c)
    return '"' + "".join(s) + '"'


seen = set()
for path in sorted(glob.glob(os.path.join("..", "..", "testdata", "captures", "*", "bus_bus_rows.json"))):
    for row in json.load(open(path, encoding="utf-8"))["rows"]:
        msg = row["message"].encode("utf-8")
        name = hashlib.sha256(msg).hexdigest()[:16]
        if name in seen:
            continue
        seen.add(name)
        with open(os.path.join(out_dir, name), "w") as f:
            f.write("go test fuzz v1\n[]byte(%s)\n" % go_bytes_literal(msg))
print(len(seen), "seeds")
