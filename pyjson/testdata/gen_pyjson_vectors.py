#!/usr/bin/env python3
"""Generate pyjson_vectors.json: reference outputs of CPython's json module
for odoo/pyjson.go (ChannelKey and PySpaced).

Run from this directory with the CPython Odoo uses (3.11 for Odoo 17):

    python3 gen_pyjson_vectors.py > pyjson_vectors.json

Not run in CI; the output file is committed. The generator is deterministic
(fixed random seed) so re-running it gives the same file for the same Python.
"""
import json
import random
import struct
import sys

rnd = random.Random(20261122)


def channel_vectors():
    parts = [
        ["ref17", "broadcast"],
        ["ref17", "res.partner", 3],
        ["ref17", "res.partner", 7, "presence"],
        ["ref17", "discuss.channel", 1, "members"],
        ["my-db", "editor_collaboration", "res.partner", "comment", 42],
        ["db", "odoo-presence-res.partner_3"],
        ["d\u00e9j\u00e0", "caf\u00e9", "na\u00efve"],
        ["db", "\U0001F600 smile", "\u4e2d\u6587"],
        ["db", "quote\" back\\slash /slash"],
        ["db", "ctl\n\r\t\b\f\x00\x01\x1f\x7f"],
        ["db", "<html> & 'single'"],
        ["db", "\u2028\u2029\ufeff\uffff"],
        ["db", -5, 0, 9007199254740993, True, False, None],
        ["db", ["nested", 1], []],
        ["", ""],
    ]
    out = []
    for p in parts:
        out.append({"parts": p, "want": json.dumps(tuple(p), separators=(",", ":"))})
    # random strings over interesting code points
    pool = [chr(c) for c in range(0, 0x80)] + ["\u00e9", "\u0100", "\u07ff", "\u0800", "\ud7ff",
                                               "\ue000", "\ufffd", "\U00010000", "\U0010ffff", "\U0001F4A9"]
    for _ in range(200):
        s = "".join(rnd.choice(pool) for _ in range(rnd.randint(0, 12)))
        p = ["db" + str(rnd.randint(0, 9)), s, rnd.randint(-10**6, 10**6)]
        out.append({"parts": p, "want": json.dumps(tuple(p), separators=(",", ":"))})
    return out


HAND = [
    '{"type":"golden/injected","payload":{"hello":"world","n":1}}',
    '{}', '[]', '[ ]', '{ }', ' \t\r\n{"a" : [1 , 2] } \n',
    '"plain"', '0', '-0', '-0.0', '0.0', '1', '-1', '12345678901234567890123456789',
    '-98765432109876543210', '1E2', '1e2', '1.50', '1.0', '100.0', '1e16', '1e15', '123456789012345678',
    '1.5e16', '0.0001', '0.00001', '1e-05', '1.23e-7', '5e-324', '2.2250738585072014e-308',
    '1.7976931348623157e308', '1e308', '1e309', '-1e400', '1e-400', '-1e-400', '0e0', '-0e0',
    '0.1', '0.2', '0.30000000000000004', '3.141592653589793', '2.5E+3', '2.5e-3', '9007199254740993.0',
    '123.456e5', '1234567890123456.7', '12345678901234567.8', '0.000123456789', '1e22', '1e21', '1e23',
    '4.35', '100', '1000000000000000000000000.0', '9.999999999999999e15', '9999999999999999.0',
    'NaN', 'Infinity', '-Infinity', '[NaN,Infinity,-Infinity]', '{"x":NaN}',
    '"\\u00e9\\u00E9\u00e9"', '"\\ud83d\\ude00\\uD83D\\uDE00\U0001F600"', '"\\ud800"', '"\\udc00x"',
    '"\\ud800\\ud800"', '"\\udbff\\udfff"', '"\\u0000\\u001f\\u007f\\u0080"', '"\\/\\"\\\\\\b\\f\\n\\r\\t"',
    '"<>&\'\u2028\u2029"', '"\x7f"', '"\\u0041\\u0022\\u005c\\u002f"', '"\\u000a\\u000d\\u0009\\u0008\\u000c"',
    '{"a":1,"b":2,"a":3}', '{"a":1,"a":2,"a":3}', '{"\\u0061":1,"a":2}', '{"b":{"x":1,"x":{"y":1,"y":2}},"b":[1]}',
    '{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k1":10}',
    '{"\\ud83d\\ude00":1,"\U0001F600":2}',
    '[true,false,null]', '[[[[]]]]', '{"a":{"b":{"c":{}}}}',
    '1' * 4300, '-' + '1' * 4300, '1' * 4301, '1.' + '1' * 5000,
    '1e99999999999999999999', '0e99999999999999999', '-0e-99999999999999999999', '1' + '0' * 400 + '.0',
    '2.4703282292062328e-324', '2.4703282292062327e-324', '1.7976931348623158e308', '1.7976931348623159e308',
    # invalid for json.loads
    '', ' ', '[1,]', '{"a":1,}', "{'a':1}", '01', '-01', '1.', '.5', '+1', '1e', '1e+', '-', 'nan', 'inf',
    '-NaN', 'True', 'nul', '[1 2]', '{"a" 1}', '{"a":1 "b":2}', '{1:2}', '"abc', '"\\x41"', '"\\u12"', '"\\u12G4"',
    '"tab\there"', '"nl\nhere"', '"\x00"', '[1]x', '{"a":1}}', '[', '{', '"\\', '1 2', '\ufeff1', '\u00a01',
]


def rand_str():
    pieces = []
    for _ in range(rnd.randint(0, 8)):
        k = rnd.randint(0, 9)
        if k == 0:
            pieces.append(rnd.choice(['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t']))
        elif k == 1:
            pieces.append("\\u%04x" % rnd.choice([rnd.randint(0, 0x7f), rnd.randint(0, 0xffff)]))
        elif k == 2:
            pieces.append("\\u%04X" % rnd.randint(0xd800, 0xdfff))
        elif k == 3:
            hi, lo = 0xd800 + rnd.randint(0, 0x3ff), 0xdc00 + rnd.randint(0, 0x3ff)
            pieces.append("\\u%04x\\u%04X" % (hi, lo))
        elif k == 4:
            pieces.append(chr(rnd.choice([rnd.randint(0x80, 0xd7ff), rnd.randint(0xe000, 0xffff),
                                          rnd.randint(0x10000, 0x10ffff)])))
        elif k == 5:
            pieces.append(rnd.choice(["<", ">", "&", "'", "\x7f", " ", "~"]))
        else:
            pieces.append("".join(chr(rnd.randint(0x20, 0x7e)) for _ in range(rnd.randint(0, 4)))
                          .replace("\\", "").replace('"', ""))
    return '"' + "".join(pieces) + '"'


def rand_num():
    k = rnd.randint(0, 9)
    if k == 0:
        return str(rnd.randint(-10**30, 10**30))
    if k == 1:
        return rnd.choice(["0", "-0", "1", "-1"]) + rnd.choice(["", ".0", "e0", "E+0", ".000e-0"])
    if k in (2, 3):
        while True:
            f = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
            if f == f and abs(f) != float("inf"):
                break
        return rnd.choice([repr(f), "%.17g" % f, "%.3e" % f, "%.20e" % f]).replace("inf", "1e999")
    if k == 4:
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 30)))
        digits = digits.lstrip("0") or "0"
        frac = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 30)))
        return rnd.choice(["", "-"]) + digits + "." + frac + rnd.choice(["", "e%d" % rnd.randint(-330, 330)])
    if k == 5:
        return "%de%d" % (rnd.randint(1, 99), rnd.randint(-25, 25))
    if k == 6:
        return repr(rnd.uniform(-1e6, 1e6))
    if k == 7:
        return repr(rnd.randint(1, 10**17) / 10 ** rnd.randint(0, 20))
    return str(rnd.randint(-1000, 1000))


def ws():
    return rnd.choice(["", "", "", " ", "\n", "\t", " \r\n "])


def rand_value(depth=0):
    k = rnd.randint(0, 9 if depth < 4 else 5)
    if k <= 1:
        return rand_num()
    if k == 2:
        return rand_str()
    if k == 3:
        return rnd.choice(["true", "false", "null", "NaN", "Infinity", "-Infinity"])
    if k in (4, 5):
        return rand_str() if k == 4 else rand_num()
    if k in (6, 7):
        items = [ws() + rand_value(depth + 1) + ws() for _ in range(rnd.randint(0, 5))]
        return "[" + ",".join(items) + "]" if items else "[" + ws() + "]"
    keys = [rand_str() for _ in range(rnd.randint(0, 6))]
    if keys and rnd.random() < 0.4:
        keys.append(rnd.choice(keys))
        rnd.shuffle(keys)
    items = [ws() + key + ws() + ":" + ws() + rand_value(depth + 1) + ws() for key in keys]
    return "{" + ",".join(items) + "}" if items else "{" + ws() + "}"


def spaced_vectors():
    inputs = list(HAND)
    for _ in range(300):
        inputs.append(rand_num())
    for _ in range(700):
        inputs.append(ws() + rand_value() + ws())
    out = []
    for text in inputs:
        try:
            want = json.dumps(json.loads(text))
        except (ValueError, RecursionError):
            want = None
        out.append({"in": text, "want": want})
    return out


json.dump({
    "python": sys.version.split()[0],
    "channel_keys": channel_vectors(),
    "spaced": spaced_vectors(),
}, sys.stdout, indent=1)
sys.stdout.write("\n")
