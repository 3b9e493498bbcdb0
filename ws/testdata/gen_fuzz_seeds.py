# dev-time generator for ws/testdata/fuzz/FuzzFrame: one seed per distinct
# client (C>S) frame of the Odoo 17 captures, plus whole conversations
# (all C>S bytes of a scenario concatenated).
import glob, json, os
out = 'fuzz/FuzzFrame'
os.makedirs(out, exist_ok=True)
seen = set()
def emit(name, b):
    if b in seen: return
    seen.add(b)
    lit = ''.join('\\x%02x' % c for c in b)
    with open(os.path.join(out, name), 'w') as f:
        f.write('go test fuzz v1\n[]byte("%s")\n' % lit)
def scenarios(d):
    if 'events' in d: yield 'top', d['events']; return
    for k, v in d.items():
        if isinstance(v, list): yield k, v
        elif isinstance(v, dict) and 'events' in v: yield k, v['events']
for path in sorted(glob.glob('../../testdata/captures/odoo17/ws_*.json')):
    base = os.path.basename(path)[:-5]
    for name, events in scenarios(json.load(open(path))):
        conv = b''
        for i, e in enumerate(events):
            if e.get('dir') == 'C>S' and e.get('raw_hex'):
                b = bytes.fromhex(e['raw_hex'])
                emit('%s-%s-%d' % (base, name, i), b)
                conv += b
        if conv:
            emit('%s-%s-all' % (base, name), conv)
print(len(seen))
