#!/usr/bin/env python3
"""Break BenchmarkBridgeKill's kills down step by step, on one clock.

Usage: VNFHA_BENCH_DIAG=DIR go test ./test/bench -bench BridgeKill ...; then
scripts/killpath.py DIR. Each column is ms after the kill(2) of that round:
the supervisor's exit and report (vnfc.log), the DC's CIB manager applying
the failure and the bridge's node applying it (pacemaker logs, 4 ms
granularity), the bridge's first notification, its view with want=fail,
each HAProxy's reconcile start and fail line, and HAProxy's ring line.
"""
import re, sys, os, datetime as dt, statistics

d = sys.argv[1]
def iso(s):
    s = s.rstrip('Z')
    if '+' in s[19:]:
        s = s[:s.index('+', 19)]
    if '.' in s:
        a, f = s.split('.')
        s = a + '.' + (f + '000000')[:6]
    return dt.datetime.fromisoformat(s)

kills = []
for line in open(os.path.join(d, 'kills.txt')):
    f = line.split()
    kills.append(dict(node=f[0], bridge=f[1], t0=iso(f[2]), lbs=[iso(x) for x in f[4:]]))
year = kills[0]['t0'].year

bridge = []  # (time, msg, fields)
for line in open(os.path.join(d, 'bridge.log')):
    m = re.match(r'time="([^"]+)" level=(\w+) msg=("[^"]*"|\S+)(.*)', line)
    if m:
        bridge.append((iso(m.group(1)), m.group(3).strip('"'), m.group(4)))
sup = []
for line in open(os.path.join(d, 'vnfc.log')):
    m = re.match(r'vnfha-vnfc-supervisor\[\d+\]: (\S+ \S+) (.*)', line)
    if m:
        sup.append((dt.datetime.strptime(m.group(1), '%Y/%m/%d %H:%M:%S.%f'), m.group(2)))
pcmk = {}
bridge_on = []  # (time, node)
dcs = []
for fn in sorted(os.listdir(d)):
    m = re.match(r'pacemaker-(\w+)\.log', fn)
    if not m:
        continue
    node = m.group(1)
    rows = []
    for line in open(os.path.join(d, fn), errors='replace'):
        mm = re.match(r'(\w{3} \d\d \d\d:\d\d:\d\d\.\d{3}) (\S+) (\S+)\s*\[\d+\] \((\w+)\)\s*(\w+): (.*)', line)
        if not mm:
            continue
        t = dt.datetime.strptime(f'{year} {mm.group(1)}', '%Y %b %d %H:%M:%S.%f')
        rows.append((t, mm.group(3), mm.group(4), mm.group(6)))
        s = mm.group(6)
        b = re.search(r'Initiating start operation bridge_start_0 (locally )?on (\w+)', s)
        if b:
            bridge_on.append((t, b.group(2)))
            dcs.append((t, node))
    pcmk[node] = rows

def first(seq, after, pred, before=None):
    for t, *rest in seq:
        if t >= after and (before is None or t < before) and pred(*rest):
            return t
    return None

def ms(t, t0):
    return None if t is None else (t - t0).total_seconds() * 1000

cols = ['sup-exit', 'reported', 'DC-cib', 'brnode-cib', 'notify', 'view-fail',
        'rec-lb1', 'fail-lb1', 'ring-lb1', 'rec-lb2', 'fail-lb2', 'ring-lb2']
print('%-6s %-6s %-4s ' % ('killed', 'bridge', 'DC') + ' '.join('%10s' % c for c in cols) + '  note')
table = []
for i, k in enumerate(kills):
    t0 = k['t0']
    end = kills[i + 1]['t0'] if i + 1 < len(kills) else t0 + dt.timedelta(seconds=2)
    end = min(end, t0 + dt.timedelta(seconds=2))
    bnode = k['bridge']
    dc = [n for t, n in dcs if t < t0]
    dc = dc[-1] if dc else '?'
    node = k['node']
    r = {}
    r['sup-exit'] = first(sup, t0 - dt.timedelta(milliseconds=1), lambda s: 'killed by signal' in s, end)
    r['reported'] = first(sup, t0, lambda s: 'reported the failure' in s, end)
    isfail = lambda who, fn, s: fn == 'cib_perform_op' and 'web_last_failure_0' in s and ('++' in s or '+ ' in s)
    r['DC-cib'] = first(pcmk.get(dc, []), t0 - dt.timedelta(milliseconds=4), isfail, end)
    r['brnode-cib'] = first(pcmk.get(bnode, []), t0 - dt.timedelta(milliseconds=4), isfail, end)
    r['notify'] = first(bridge, t0, lambda m, f: m == 'cluster: CIB notification', end)
    vf = first(bridge, t0, lambda m, f: m == 'instance changed' and 'node=' + node + ' ' in f and 'want=fail' in f, end)
    r['view-fail'] = vf
    stopped = first(bridge, t0, lambda m, f: m == 'bridge stopped', end)
    for lb in ('lb1', 'lb2'):
        r['rec-' + lb] = first(bridge, vf, lambda m, f: m == 'reconcile start' and 'haproxy=' + lb in f, end) if vf else None
        r['fail-' + lb] = first(bridge, t0, lambda m, f: m == 'fail' and 'haproxy=' + lb + ' ' in f and 'node=' + node + ' ' in f, end)
    r['ring-lb1'], r['ring-lb2'] = k['lbs'][0], k['lbs'][1]
    note = []
    if stopped:
        note.append('bridge stopped at %.0f' % ms(stopped, t0))
    table.append((node, bnode, dc, r))
    print('%-6s %-6s %-6s ' % (node, bnode, dc) + ' '.join('%10s' % ('-' if r[c] is None else '%.1f' % ms(r[c], t0)) for c in cols) + '  ' + ', '.join(note))

print()
print('medians, ms after the kill:')
for label, pred in [('all', lambda n, b, dc: True), ('killed on the bridge node', lambda n, b, dc: n == b),
                    ('killed elsewhere', lambda n, b, dc: n != b), ('killed on the DC', lambda n, b, dc: n == dc),
                    ('bridge on the DC', lambda n, b, dc: b == dc)]:
    sel = [(k, r) for k, (n, b, dc, r) in zip(kills, table) if pred(n, b, dc)]
    if not sel:
        continue
    vals = []
    for c in cols:
        v = [ms(r[c], k['t0']) for k, r in sel if r[c] is not None]
        vals.append('%10s' % ('%.1f' % statistics.median(v) if v else '-'))
    print('%-28s' % ('%s (%d)' % (label, len(sel))), ' '.join(vals))
