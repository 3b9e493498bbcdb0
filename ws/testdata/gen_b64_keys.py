# dev-time generator for ws/testdata/b64_keys.json (tests do not need python3):
# what base64.b64decode(key, validate=True) of CPython 3.11 (Odoo's
# Sec-WebSocket-Key check) returns: decoded length, or null when it raises.
import base64, json, random
random.seed(17)
cases, seen = [], set()
def add(s):
    if s in seen: return
    seen.add(s)
    try:
        n = len(base64.b64decode(s, validate=True))
    except Exception:
        n = None
    cases.append([s, n])
for s in ['', 'dGhlIHNhbXBsZSBub25jZQ==', 'dGhlIHNhbXBsZSBub25jZR==', 'dGhlIHNhbXBsZSBub25jZQ=',
          'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ===', 'dGhlIHNhbXBsZSBub25jZQ==\n',
          'not base64!!', 'YWJj', 'YWJj=', 'YWJj==', 'YWJj===', '=YWJj', 'YW=Jj', 'YW==', 'YWI=',
          'YWI==', 'Y', 'YQ', 'YWJjZA=', '====', 'AAAAAAAAAAAAAAAAAAAAAA==', 'AAAAAAAAAAAAAAAAAAAAAAA=']:
    add(s)
alphabet = 'AQgw+/=' + '= ' + '!'
for _ in range(3000):
    add(''.join(random.choice(alphabet) for _ in range(random.randint(1, 10))))
for _ in range(300):
    add(base64.b64encode(bytes(random.randrange(256) for _ in range(random.randint(14, 18)))).decode())
with open('b64_keys.json', 'w') as f:
    f.write('[\n' + ',\n'.join(json.dumps(c) for c in cases) + '\n]\n')
print(len(cases))
