#!/usr/bin/env python3
"""Regenerates the test vectors of package session (dev time only; the Go
tests read the committed output and never need Python).

Run from anywhere with CPython 3.11 (the reference for Encode):

    python3.11 session/testdata/gen_vectors.py

Optional interpreters, found through environment variables or pyenv:
PY27 (Python 2.7: Odoo 8.0-10.0 sessions), PY37 (Odoo 16 on 3.7, protocol 4),
PY312 (Unicode 15.0, the same tables as Go 1.26). Vectors needing a missing
interpreter are skipped with a warning (and the Go tests that use them skip).

Outputs (next to this script):
  pickle_vectors.json      small pickles: hex, tagged value, expected session
                           fields or error, and whether Encode must reproduce
                           them byte for byte
  encode_specs.json        large procedurally built dicts (frames, batches):
                           spec + length + sha256 of CPython's pickle
  token_vectors.json       repr(tuple) and HMAC-SHA256 tokens
  nonprintable_*.json      ranges of code points str.isprintable() rejects
  fuzz/FuzzDecode/*, fuzz/FuzzSID/*, fuzz/FuzzPyRepr/*  seed corpora
"""
import glob
import hashlib
import hmac
import json
import os
import pickle
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "captures"))

if sys.version_info[:2] != (3, 11):
    sys.exit("run this with CPython 3.11 (the Encode reference)")


def interp(env, version):
    p = os.environ.get(env)
    if p:
        return p
    root = os.path.expanduser("~/.pyenv/versions")
    for d in sorted(glob.glob(os.path.join(root, version + "*"))):
        for name in ("python3", "python2", "python"):
            c = os.path.join(d, "bin", name)
            if os.path.exists(c):
                return c
    print("warning: no interpreter for", env, file=sys.stderr)
    return None


# ---------------------------------------------------------------- tagging

def tag(v):
    """JSON form of a Python value, understood by the Go tests."""
    if v is None:
        return ["none"]
    if v is True or v is False:
        return ["bool", v]
    if isinstance(v, int):
        return ["int", str(v)]
    if isinstance(v, float):
        return ["float", repr(v)]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, bytes):
        return ["bytes", v.hex()]
    if isinstance(v, dict):
        return ["dict", [[tag(k), tag(x)] for k, x in v.items()]]
    if isinstance(v, list):
        return ["list", [tag(x) for x in v]]
    if isinstance(v, tuple):
        return ["tuple", [tag(x) for x in v]]
    if isinstance(v, frozenset):
        return ["frozenset", sorted((tag(x) for x in v), key=json.dumps)]
    if isinstance(v, set):
        return ["set", sorted((tag(x) for x in v), key=json.dumps)]
    raise TypeError(type(v))


def fresh(v):
    """Deep copy in which every str/bytes/list/tuple/dict is a new object,
    except the ones CPython caches (empty and 1-char strings, short bytes):
    the shape of a dict that went through pickle.loads."""
    if isinstance(v, str):
        # 1-char strings: the latin-1 cache object, which is what
        # pickle.loads returns (in 3.11 a 1-char *literal* is another object).
        return "".join(list(v)) if len(v) != 1 else chr(ord(v))
    if isinstance(v, bytes):
        return bytes(bytearray(v))
    if isinstance(v, dict):
        return {fresh(k): fresh(x) for k, x in v.items()}
    if isinstance(v, list):
        return [fresh(x) for x in v]
    if isinstance(v, tuple):
        return tuple(fresh(x) for x in v)
    return v


def interned(v):
    """Deep copy in which equal strings are one (interned) object."""
    if isinstance(v, str):
        return sys.intern(v)
    if isinstance(v, dict):
        return {interned(k): interned(x) for k, x in v.items()}
    if isinstance(v, list):
        return [interned(x) for x in v]
    if isinstance(v, tuple):
        return tuple(interned(x) for x in v)
    return v


def expected_session(d):
    """What Decode must extract (mirrors the rules documented in decode.go)."""
    def opt(key):
        x = d.get(key)
        if x is None or x is False:
            return ""
        if isinstance(x, str):
            return x
        raise ValueError(key)
    uid = d.get("uid")
    if uid is None or uid is False:
        uid = 0
    ctx = d.get("context")
    return {
        "db": d.get("db") or "",
        "uid": uid,
        "login": opt("login"),
        "token": opt("session_token"),
        "password": opt("password"),
        "ws": bool(d.get("is_websocket_session")),
        "context": tag(ctx) if ctx is not None else None,
    }


vectors = []


def add(name, blob, value=None, encode=None, error=None, python="3.11", session=True):
    v = {"name": name, "python": python, "hex": blob.hex()}
    if error:
        v["error"] = error
    else:
        v["value"] = tag(value)
        if session:
            v["session"] = expected_session(value)
    if encode:
        v["encode"] = encode  # "default", "shared" or "proto4"
    vectors.append(v)


# ------------------------------------------------------- py3.11 vectors

SECRET = "b6a1d5d0-7f3e-4c6b-9a52-3f5f0d3c2e11"
odoo17_admin = {
    "context": {"lang": "en_US", "tz": "Europe/Brussels", "uid": 2},
    "db": "ref17", "debug": "", "login": "admin", "uid": 2,
    "session_token": "3a9c1daac75c333e5016963b44ec7ca7b69cb4cd5f461b7f848190b7f2ad282c",
    "is_websocket_session": True,
}
odoo17_public = {"context": {"lang": "en_US"}, "db": "ref17", "debug": "",
                 "login": None, "uid": None, "session_token": None}
odoo14_admin = {"db": "ref14", "uid": 2, "login": "admin",
                "session_token": "f952f9430a80c79d8a20bf699a4404ff0e6b8cfe67a55bfed05bc1617f5e7849",
                "context": {"lang": "en_US", "tz": "Europe/Brussels", "uid": 2}, "debug": ""}

INTS = [0, 1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -1, -128, -129, -256, -2**31, -2**31 - 1,
        2**32, 2**39, -2**39, -2**39 - 1, -2**40, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64,
        10**30, -10**30, 2**2000, -2**2000]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, 1e16, 0.1, float("inf"), float("-inf")]
STRS = ["", "a", "é", "ÿ", "ĉ", "€", "😀", "o'portal", 'say "hi"', "back\\slash", "tab\tnl\n",
        "x" * 255, "y" * 256, "é" * 128, "\u0000nul", "line\u2028sep"]
rich = {
    "context": {"lang": "fr_BE", "tz": "Europe/Brussels", "uid": 7,
                "allowed_company_ids": [1, 3], "params": {"action": 12}},
    "db": "prod", "debug": "assets", "login": "jürgen@example.com", "uid": 7,
    "session_token": "ab" * 32, "_geoip": {"city": "Liège", "latitude": 50.6326, "longitude": 5.5797},
    "ints": INTS, "floats": FLOATS, "strs": STRS,
    "tuple0": (), "tuple1": ("a",), "tuple2": (1, "b"), "tuple3": (None, True, False), "tuple4": (1, 2, 3, 4),
    "nested": {"a": {"b": {"c": {"d": []}}}}, "empty": {}, "one": {"k": "v"},
    "list1": ["only"], "list0": [],
    "bytes": [b"", b"a", b"ab", b"\x00\xff" * 200],
    "dupvals": ["same", "same", "", "", "z", "z"],
    "is_websocket_session": True,
}
# A float inside a set is fine for Decode, but a set cannot be re-encoded.
with_sets = {"db": "d", "uid": 1, "s": {1, 2, "x"}, "f": frozenset({"a", 3})}

for name, val in [("odoo17_admin", odoo17_admin), ("odoo17_public", odoo17_public), ("rich", rich)]:
    for proto in (4, 5):
        enc = {5: "default", 4: "proto4"}[proto]
        add(f"py311_{name}_p{proto}", pickle.dumps(fresh(val), proto), val, encode=enc)
    if name != "rich":  # py3 protocol 2 pickles bytes via REDUCE (covered below)
        add(f"py311_{name}_p2", pickle.dumps(fresh(val), 2), val)
add("py311_odoo14_admin_shared_p5", pickle.dumps(interned(odoo14_admin), 5), odoo14_admin, encode="shared")
add("py311_rich_shared_p5", pickle.dumps(interned(rich), 5), rich, encode="shared")
add("py311_sets_p5", pickle.dumps(with_sets, 5), with_sets)
add("py311_sets_p4", pickle.dumps(with_sets, 4), with_sets)
rich_p2 = {k: v for k, v in rich.items() if k != "bytes"}
add("py311_rich_p2", pickle.dumps(fresh(rich_p2), 2), rich_p2)
add("py311_rich_p3", pickle.dumps(fresh(rich), 3), rich)
add("py311_context_none_p5", pickle.dumps({"db": None, "uid": False, "context": None, "login": False}, 5),
    {"db": None, "uid": False, "context": None, "login": False}, encode="default")
add("py311_uid_zero_p5", pickle.dumps({"uid": 0, "is_websocket_session": 1}, 5),
    {"uid": 0, "is_websocket_session": 1}, encode="default")
big_keys = {"ok": 1, 5: "int key", 2.5: "float key", None: "none key", True: "bool key"}
add("py311_nonstr_nested_keys_p5", pickle.dumps({"saved_actions": {"next": 3, "actions": {1: {"a": 1}}},
                                                 "x": big_keys}, 5),
    {"saved_actions": {"next": 3, "actions": {1: {"a": 1}}}, "x": big_keys}, encode="default")

# Pickles Decode must refuse (class instances and non-session shapes).
import collections
import datetime
import decimal


class Obj:
    def __init__(self):
        self.a = 1


for name, val in [
    ("datetime", {"db": "x", "t": datetime.datetime(2024, 1, 2, 3, 4, 5)}),
    ("date_p2", {"db": "x", "t": datetime.date(2024, 1, 2)}),
    ("ordereddict", collections.OrderedDict([("db", "x")])),
    ("ordereddict_nested", {"db": "x", "o": collections.OrderedDict([("a", 1)])}),
    ("decimal", {"db": "x", "d": decimal.Decimal("1.5")}),
    ("object", {"db": "x", "o": Obj()}),
    ("bytearray", {"db": "x", "b": bytearray(b"ab")}),
    ("top_list", ["db", "x"]),
    ("top_none", None),
    ("top_nonstr_key", {1: "x"}),
    ("wrong_uid_type", {"uid": "2"}),
    ("wrong_uid_true", {"uid": True}),
    ("wrong_uid_negative", {"uid": -1}),
    ("wrong_uid_big", {"uid": 2**70}),
    ("wrong_db_type", {"db": 5}),
    ("wrong_login_type", {"login": 5}),
    ("wrong_token_type", {"session_token": b"x"}),
    ("wrong_context_type", {"context": [1]}),
    ("set_of_bytes", {"s": {b"ab", b"cd"}}),
    ("tuple_key", {"d": {(1, 2): "x"}}),
]:
    proto = 2 if name.endswith("_p2") else 5
    add(f"py311_bad_{name}", pickle.dumps(val, proto), error=name)
add("py311_bad_protocol0", pickle.dumps({"db": "x"}, 0), error="protocol 0")
add("py311_bad_protocol1", pickle.dumps({"db": "x"}, 1), error="protocol 1")
add("py311_bad_truncated", pickle.dumps(odoo17_admin, 5)[:-1], error="truncated")
add("py311_bad_truncated_frame", pickle.dumps(odoo17_admin, 5)[:40], error="truncated")
rec = []
rec.append(rec)
add("py311_bad_recursive_list", pickle.dumps({"r": rec}, 5), error="recursive")
recd = {}
recd["self"] = recd
add("py311_bad_recursive_dict", pickle.dumps(recd, 5), error="recursive")
deep = []
for _ in range(40):
    deep = [deep]
add("py311_bad_deep", pickle.dumps({"d": deep}, 5), error="deep")
ok_deep = "leaf"
for _ in range(30):  # top dict + 30 lists + ... = 31 levels: accepted
    ok_deep = [ok_deep]
add("py311_deep_ok", pickle.dumps({"d": ok_deep}, 5), {"d": ok_deep}, encode="default", session=True)
bomb = ["x"]
for _ in range(30):
    bomb = [bomb, bomb]
add("py311_bad_memo_bomb", pickle.dumps({"b": bomb}, 5), error="memo bomb")
many = {("key%03d" % i): i for i in range(300)}
many["x"] = "é"
many["y"] = "é"  # the same cached 1-char object, memoized past index 255: LONG_BINGET
add("py311_long_binget_p5", pickle.dumps(fresh(many), 5), many, encode="default", session=True)
sub = {"x": 1}
# One dict object twice (BINGET of a dict): identity can't be tagged, the Go
# test builds it with one *Dict (TestEncodeSharedDict).
add("py311_shared_dict_p5", pickle.dumps({"a": sub, "b": sub}, 5), {"a": {"x": 1}, "b": {"x": 1}}, session=True)
# trailing garbage after STOP is ignored by CPython, and by Decode.
add("py311_trailing_data", pickle.dumps(odoo17_public, 5) + b"garbage", odoo17_public)

# ------------------------------------------------------- other interpreters

PY2_SCRIPT = r'''
import sys, json, pickle, cPickle
out = []
def add(name, mod, val):
    out.append({"name": name, "hex": mod.dumps(val, 2).encode("hex")})
odoo8 = {"db": u"ref8", "uid": 1, "login": u"admin", "password": u"s3cr\xe9t",
         "context": {"lang": u"fr_FR", "tz": u"Europe/Brussels", "uid": 1},
         "saved_actions": {"next": 2, "actions": {1: {"action": {"type": u"ir.actions.act_window"}}}}}
odoo10 = {"db": "ref10", "uid": 2L, "login": "admin", "session_token": u"ab" * 32,
          "context": {"lang": "en_US", "uid": 2L}, "debug": "",
          "zero": 0L, "one": 1L, "neg": -1L, "big": 2 ** 70, "nbig": -2 ** 70,
          "latin1_str": "caf\xe9", "utf8_str": "caf\xc3\xa9", "uni": u"\u20ac \U0001f600",
          "tuple": (1, "a"), "list": [1.5, None, True, False], "empty": ""}
for name, val in (("odoo8", odoo8), ("odoo10", odoo10)):
    add("py27_cpickle_" + name, cPickle, val)
    add("py27_pickle_" + name, pickle, val)
sys.stdout.write(json.dumps(out))
'''


def py2_expected(name):
    """The values Decode must produce for the py2 vectors (py2 str that is
    not UTF-8 is read as Latin-1)."""
    if name.endswith("odoo8"):
        return {"db": "ref8", "uid": 1, "login": "admin", "password": "s3cr\xe9t",
                "context": {"lang": "fr_FR", "tz": "Europe/Brussels", "uid": 1},
                "saved_actions": {"next": 2, "actions": {1: {"action": {"type": "ir.actions.act_window"}}}}}
    return {"db": "ref10", "uid": 2, "login": "admin", "session_token": "ab" * 32,
            "context": {"lang": "en_US", "uid": 2}, "debug": "",
            "zero": 0, "one": 1, "neg": -1, "big": 2 ** 70, "nbig": -2 ** 70,
            "latin1_str": "caf\xe9", "utf8_str": "caf\xe9", "uni": "\u20ac \U0001f600",
            "tuple": (1, "a"), "list": [1.5, None, True, False], "empty": ""}


py27 = interp("PY27", "2.7")
if py27:
    for item in json.loads(subprocess.check_output([py27, "-c", PY2_SCRIPT])):
        exp = py2_expected(item["name"])
        # dict order of py2 is arbitrary: the Go test compares py2 values
        # order-insensitively ("unordered": true).
        vectors.append({"name": item["name"], "python": "2.7", "hex": item["hex"],
                        "value": tag(exp), "session": expected_session(exp), "unordered": True})

PY37_SCRIPT = r'''
import pickle, sys, json
d = json.loads(sys.argv[1])
sys.stdout.write(pickle.dumps(d, pickle.HIGHEST_PROTOCOL).hex())
'''
py37 = interp("PY37", "3.7")
if py37:
    for name, val in [("odoo17_admin", odoo17_admin), ("odoo17_public", odoo17_public)]:
        h = subprocess.check_output([py37, "-c", PY37_SCRIPT, json.dumps(val)]).decode()
        # json.loads shares repeated dict keys (its key memo): "uid" twice.
        add(f"py37_{name}_p4", bytes.fromhex(h), val, python="3.7")

def dump_lines(path, key, items, **extra):
    """JSON with one item per line (readable diffs, compact file)."""
    with open(path, "w") as f:
        head = json.dumps(dict(generator="gen_vectors.py", **extra))[:-1]
        f.write(head + ', "%s": [\n' % key)
        f.write(",\n".join(json.dumps(v, ensure_ascii=True) for v in items))
        f.write("\n]}\n")


dump_lines(os.path.join(HERE, "pickle_vectors.json"), "vectors", vectors)

# ------------------------------------------------------- large encode specs


def build(spec):
    """Must match buildSpec in encode_test.go."""
    def value(t, i):
        k = t["t"]
        if k == "str":
            return chr(ord("a") + i % 26) * t["len"]
        if k == "int":
            return t["v"] + i
        if k == "none":
            return None
        if k == "true":
            return True
        if k == "float":
            return t["v"] + i
        if k == "dict":
            return {"a": i, "bb": "xy" + str(i % 10)}
        if k == "list":
            return list(range(i, i + t["n"]))
        if k == "tuple":
            return (i, "t" + str(i % 7))
        if k == "bytes":
            return bytes([i % 256]) * t["len"]
        raise ValueError(k)

    items = [value(spec["values"][i % len(spec["values"])], i) for i in range(spec["n"])]
    if spec["pad"]:
        items[0] = "p" * spec["pad"]
    if spec["kind"] == "dict":
        return fresh({"k%05d" % i: v for i, v in enumerate(items)})
    return fresh({"l": items, "after": "end"})  # fresh: no shared literal keys ("bb")


MIX = [{"t": "str", "len": 54}, {"t": "int", "v": 1000}, {"t": "none"}, {"t": "true"},
       {"t": "int", "v": 70000}, {"t": "dict"}, {"t": "list", "n": 3}, {"t": "tuple"},
       {"t": "float", "v": 1.5}, {"t": "str", "len": 3}, {"t": "int", "v": -5},
       {"t": "bytes", "len": 10}, {"t": "int", "v": 2**40}, {"t": "str", "len": 1}]
specs = []
# ~70-80 KiB: the 64 KiB frame boundary falls at a different opcode for
# each pad (the MIX cycle is ~300 bytes long).
for kind, n in (("dict", 3400), ("list", 5600)):
    for pad in range(0, 250, 5):
        specs.append({"kind": kind, "n": n, "pad": pad, "values": MIX})
for kind in ("dict", "list"):
    for n in (999, 1000, 1001, 2000, 2001):
        specs.append({"kind": kind, "n": n, "pad": 0, "values": [{"t": "int", "v": 0}]})
for ln in (65535, 65536, 70000):
    specs.append({"kind": "dict", "n": 3, "pad": 0, "values": [{"t": "str", "len": ln}, {"t": "bytes", "len": ln}]})
    specs.append({"kind": "dict", "n": 4, "pad": 7, "values": [{"t": "int", "v": 1}, {"t": "str", "len": ln}]})
specs.append({"kind": "dict", "n": 2, "pad": 0, "values": [{"t": "str", "len": 300}, {"t": "none"}]})
specs.append({"kind": "dict", "n": 300, "pad": 0, "values": [{"t": "list", "n": 2}]})
specs.append({"kind": "list", "n": 600, "pad": 0, "values": [{"t": "str", "len": 1}]})  # BINGET of 1-char strings
for s in specs:
    b = pickle.dumps(build(s), 5)
    s["len"] = len(b)
    s["sha256"] = hashlib.sha256(b).hexdigest()
dump_lines(os.path.join(HERE, "encode_specs.json"), "specs", specs)

# ------------------------------------------------------------- tokens

PW = "$pbkdf2-sha512$600000$5Pw.Z0zp/d9bi1Gq9T7nHA$Yw0fbh.aq4B0xSGBTqI8XXN6v8Wc2RH1bYQY/5ZFNgZXlaN/6bmyHa3A3F0CqMpZ.f7ZbcQ9E4gUlxkK1/IGMg"
token_keys = [
    [True, 2, "admin", PW, None, SECRET],
    [True, 6, "demo", PW, None, SECRET],
    [True, 8, "o'portal", PW, None, SECRET],
    [True, 9, 'say "hi"', None, None, SECRET],
    [True, 10, "both ' and \"", PW, "JBSWY3DPEHPK3PXP", SECRET],
    [False, 11, "back\\slash\t\n\r", "", None, SECRET],
    [True, 12, "jürgen@exämple.com", PW, None, SECRET],
    [True, 13, "\x00\x01\x1f\x7f\x80\x9f\xa0\xad\xff", PW, None, SECRET],
    [True, 14, "ĉ€\u2028\u2029\u200b\u200f\ufeff\ue000\u0378\u3000\u00a0", None, None, SECRET],
    [True, 15, "😀👍🏻\U000e0001\U0010ffff\U000f0000\U0001d400", None, None, SECRET],
    [True, 16, "देवनागरी עברית عربي 中文 日本語 한국어", None, None, SECRET],
    [True, 2**40, "big", PW, None, SECRET],
    [True, -3, "neg", None, None, None],
    [None, 0, "", "", "", ""],
    [True, 2**70, "huge", None, None, SECRET],
    [1.5, 0.1, 1e16, 1e-05, 123456789012345678.0, -0.0, float("inf"), float("nan"), 1e22, 5e-324],
    [1.0, 100.0, 1234567890123456.0, 0.0001, 0.001234, 2.5e-7, -1e300],
    ["'", '"', "'\"", "", "\\"],
    [],
    ["solo"],
    [("nested", 1), (), (None,)],
]
sids = ["0cec69ea87b41579dd265fa44b87b931ca170d72", "366b8808d7963ef8830626506493e9f42f19fb22"]
tokens = []
for i, key in enumerate(token_keys):
    r = repr(tuple(key))
    sid = sids[i % 2]
    tokens.append({"key": [tag(v) for v in key], "repr": r, "sid": sid,
                   "token": hmac.new(r.encode("utf-8"), sid.encode("utf-8"), hashlib.sha256).hexdigest()})
dump_lines(os.path.join(HERE, "token_vectors.json"), "vectors", tokens,
           python=sys.version.split()[0], unidata=unicodedata.unidata_version)

# ------------------------------------------------- str.isprintable tables

RANGES_SCRIPT = r'''
import sys, json, unicodedata
out = []
lo = None
for cp in range(0x110000):
    np = not chr(cp).isprintable()
    if np and lo is None:
        lo = cp
    if not np and lo is not None:
        out.append([lo, cp - 1]); lo = None
if lo is not None:
    out.append([lo, 0x10ffff])
sys.stdout.write(json.dumps({"python": sys.version.split()[0], "unidata": unicodedata.unidata_version, "nonprintable": out}))
'''
for env, ver, fname in (("PY311", "3.11", "nonprintable_py311.json"), ("PY312", "3.12", "nonprintable_py312.json")):
    exe = sys.executable if ver == "3.11" else interp(env, ver)
    if not exe:
        continue
    data = subprocess.check_output([exe, "-c", RANGES_SCRIPT])
    with open(os.path.join(HERE, fname), "wb") as f:
        f.write(data + b"\n")

# ------------------------------------------------------------ fuzz seeds


def go_bytes(b):
    return "".join("\\x%02x" % c for c in b)


def seed(target, name, lines):
    d = os.path.join(HERE, "fuzz", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        f.write("go test fuzz v1\n" + "".join(l + "\n" for l in lines))


for p in sorted(glob.glob(os.path.join(CAPTURES, "odoo*", "sessions", "*.pickle"))):
    ver = p.split(os.sep)[-3]
    seed("FuzzDecode", f"capture_{ver}_{os.path.basename(p)[:-7]}", ['[]byte("%s")' % go_bytes(open(p, "rb").read())])
for v in vectors:
    if v["name"].startswith(("py27_cpickle", "py311_rich_p", "py311_sets_p5", "py311_bad_memo", "py311_bad_recursive_list")):
        seed("FuzzDecode", v["name"], ['[]byte("%s")' % go_bytes(bytes.fromhex(v["hex"]))])
for name, s in (("valid", sids[0]), ("upper", sids[0].upper()), ("dotdot", "../" + sids[0][3:]),
                ("nul", sids[0][:39] + "\x00"), ("short", sids[0][:39]), ("empty", "")):
    seed("FuzzSID", name, ['string("%s")' % go_bytes(s.encode())])
for name, s, n in (("ascii", "admin", 2), ("quotes", "it's \"x\"", -1), ("ctrl", "\x00\t\x7f\x85", 0),
                   ("unicode", "é€😀\u2028\ue000", 1 << 40)):
    seed("FuzzPyRepr", name, ['string("%s")' % go_bytes(s.encode()), "int64(%d)" % n])
print(f"{len(vectors)} pickle vectors, {len(specs)} encode specs, {len(tokens)} token vectors")
