#!/usr/bin/env python3
"""Regenerates golden.json: what Python 3's configparser.RawConfigParser
(strict=False, i.e. duplicates merged as Python 2 did) reads from each input.
config/file_test.go compares parseINI against it.

    cd config/testdata/pyini && python3 gen.py
"""
import configparser, glob, io, json, os

CASES = {
    "backtick_value": "[options]\ndb_password = `abc\ndb_host = h\n",
    "triple_quote_value": '[options]\ndb_password = """abc\ndb_host = h\n',
    "quoted_values_kept": "[options]\na = 'x'\nb = \"y\"\nc = `z`\n",
    "indented_keys": "[options]\n  db_host = x\n  db_port = 5433\n",
    "indented_comment_in_value": "[options]\ndb_name = prod\n    ; db_name = test\n",
    "blank_lines_in_value": "[options]\naddons_path = a,\n    b\n\n    c\ndb_host = h\n",
    "blank_then_whitespace_line": "[options]\na =\n   \n  b\n",
    "trailing_blank_lines": "[options]\na = 1\n\n\n",
    "colon_and_equals": "[options]\nDB_Host : x:y = z\nb=c=d\ne:\n",
    "inline_comment_kept": "[options]\na = x ; y # z\nb = #x\n",
    "dash_key": "[options]\n- = x\n",
    "quoted_key": "[options]\n\"k\" = v\n`k2 = v2\n",
    "section_trailing_text": "[options] ; comment\na = 1\n",
    "section_case_sensitive": "[Options]\na = 1\n",
    "section_spaces": "[ options ]\na = 1\n",
    "section_bracket_inside": "[a]b]\nk = v\n[options]\nx = 1\n",
    "empty_brackets_key": "[options]\n[] = x\n",
    "default_section": "[DEFAULT]\na = 1\nb = 2\n[options]\nb = 3\n",
    "duplicate_key": "[options]\na = 1\nb = 2\na = 3\n",
    "duplicate_section": "[options]\na = 1\n[other]\nz = 0\n[options]\nb = 2\na = 4\n",
    "crlf": "[options]\r\na = 1\r\n  b\r\nc = 2\r\n",
    "lone_cr": "[options]\ra = 1\rb = 2\r",
    "tabs_and_odd_spaces": "[options]\n\ta = 1\n\t\tcont\n\x0bb = \x0c2\x1c\n",
    "nbsp_indent": "[options]\na = 1\n\u00a0b\n",
    "unicode_key": "[options]\nÉtat = ok\n",
    "empty_value": "[options]\na =\nb = \n",
    "comment_before_section": "; hello\n# there\n\n[options]\na = 1\n",
    "continuation_after_section": "[options]\n  x\n",
    "missing_header": "a = 1\n[options]\n",
    "no_delimiter": "[options]\njust words\n",
    "empty_key": "[options]\n= x\n",
    "hash_comment_indented_key_after": "[options]\na = 1\n  # c\n  b = 2\n",
    "indented_section_is_continuation": "[options]\na = 1\n  [other]\nb = 2\n",
    "no_final_newline": "[options]\na = 1",
    "empty": "",
}


def read(text):
    p = configparser.RawConfigParser(strict=False)
    try:
        # newline=None: universal newlines, as when Odoo opens the file
        p.read_file(io.StringIO(text, newline=None))
    except configparser.Error as e:
        return {"error": type(e).__name__}
    return {
        "sections": {s: [[k, v] for k, v in p._sections[s].items()] for s in p._sections},
        "defaults": [[k, v] for k, v in p._defaults.items()],
    }


out = []
for name, text in CASES.items():
    out.append(dict(name=name, input=text, **read(text)))
for path in sorted(glob.glob("../*.conf")):
    with open(path, encoding="utf-8", newline="") as fp:
        text = fp.read()
    out.append(dict(name=os.path.basename(path), input=text, **read(text)))
with open("golden.json", "w", encoding="utf-8") as fp:
    json.dump(out, fp, indent=1, ensure_ascii=True)
    fp.write("\n")
