# dev-time generator for ws/testdata/utf8_errors.json (tests do not need python3)
import json, random
random.seed(17)
cases, seen = [], set()
def add(b):
    if b in seen: return
    seen.add(b)
    try:
        b.decode('utf-8'); err = None
    except UnicodeDecodeError as e:
        err = str(e)
    cases.append([b.hex(), err])
leads = [0x80,0xbf,0xc0,0xc1,0xc2,0xdf,0xe0,0xe1,0xec,0xed,0xee,0xef,0xf0,0xf1,0xf3,0xf4,0xf5,0xf7,0xf8,0xfe,0xff]
conts = [0x41,0x80,0x8f,0x90,0x9f,0xa0,0xbf,0xc0]
for lead in leads:
    add(bytes([lead])); add(b'ab' + bytes([lead]))
    for c2 in conts:
        add(bytes([lead, c2]))
        for c3 in [0x41, 0x80]:
            add(bytes([lead, c2, c3]))
        for c4 in [0x41, 0x80]:
            add(b'x' + bytes([lead, c2, 0x80, c4]))
add(b'\xff' + b' invalid utf8')
add('h\u00e9llo \U0001F600'.encode() + b'\xed\xa0\x80')
add('ok'.encode())
alphabet = [0x41, 0x80, 0x90, 0xa0, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff]
for _ in range(600):
    add(bytes(random.choice(alphabet) for _ in range(random.randint(1, 8))))
with open('utf8_errors.json', 'w') as f:
    f.write('[\n' + ',\n'.join(json.dumps(c) for c in cases) + '\n]\n')
print(len(cases))
