#!/usr/bin/env python3
"""Scans a key history the fault harness saved on a violation (target/tmp/chaos-<seed>-<key>.txt,
the Debug form of its operations) for the simple anomalies: a read of a value overwritten
by a write that completed before the read began, a successful compare-and-set from an
overwritten value, a failed compare-and-set no write can explain, and a new value read
then an older one, and two reads that began after both their values were acknowledged yet
disagree. Also writes the history as TSV to /tmp/hist.tsv. Finding none does not
clear a history: the checker searches every order.

    python3 bench/chaos_scan.py HISTORY.txt
"""
import re, sys
text = open(sys.argv[1]).read()
ops = []
for block in re.findall(r"Operation \{(.*?)\n    \},", text, re.S):
    client = int(re.search(r"client: (\d+)", block).group(1))
    call = int(re.search(r"call: (\d+)", block).group(1))
    m = re.search(r"ret: Some\(\s*(\d+),?\s*\)", block); ret = int(m.group(1)) if m else None
    inp = re.search(r"input: (.*?),\n        output:", block, re.S).group(1)
    out = re.search(r"output: (.*?),\n        call:", block, re.S).group(1)
    inp = re.sub(r"\s+", "", inp); out = re.sub(r"\s+", "", out)
    inp = re.sub(r",([)}])", r"\1", inp); out = re.sub(r",([)}])", r"\1", out)
    ops.append(dict(client=client, call=call, ret=ret, inp=inp, out=out))
print(len(ops), "ops")
# writes: value -> (call, ret or None, known)
writes = {}
for o in ops:
    m = re.match(r'Write\("(.*)"\)', o["inp"])
    if m: writes[m.group(1)] = (o["call"], o["ret"] if o["out"] == "Written" else None, o)
    m = re.match(r'Cas\{from:(.*),to:"(.*)",?\}', o["inp"])
    if m:
        ok = o["out"] == "Cas(true)"
        unknown = o["out"] == "Unknown"
        if ok or unknown: writes[m.group(2)] = (o["call"], o["ret"] if ok else None, o)
reads = [o for o in ops if o["inp"] == "Read" and o["out"].startswith("Read(")]
bad = 0
for r in reads:
    m = re.match(r'Read\(Some\("(.*)"\)\)', r["out"])
    if not m: continue
    v = m.group(1)
    if v not in writes: print("never written", v, r); bad += 1; continue
    vcall, vret, _ = writes[v]
    for w, (wcall, wret, wo) in writes.items():
        if w == v or wret is None: continue
        # w completed before r began, and w began after v's write completed
        if vret is not None and wret < r["call"] and wcall > vret:
            print("STALE read", r, "returned", v, f"(written {vcall}-{vret})", "but", w, f"written {wcall}-{wret}")
            bad += 1; break
    if bad > 5: break
print("stale candidates", bad)
# successful CAS from v while v had been overwritten by a completed write before the CAS began
for o in ops:
    m = re.match(r'Cas\{from:Some\("(.*)"\),to:"(.*)",?\}', o["inp"])
    if not m or o["out"] != "Cas(true)": continue
    v = m.group(1)
    if v not in writes: print("CAS from never-written", o); continue
    vcall, vret, _ = writes[v]
    for w, (wcall, wret, wo) in writes.items():
        if w in (v, m.group(2)) or wret is None: continue
        if vret is not None and wcall > vret and wret < o["call"]:
            print("CAS-true on overwritten", o, "v", v, (vcall, vret), "overwritten by", w, (wcall, wret)); break
# failed CAS from v where v is provably current: v's write completed, a read of v returned just before, no other write (known or unknown) could intervene
print("done")
allw = []  # (value, call, ret or None) including unknown writes and unknown CAS
for o in ops:
    m = re.match(r'Write\("(.*)"\)', o["inp"])
    if m and o["out"] in ("Written", "Unknown"): allw.append((m.group(1), o["call"], o["ret"] if o["out"] == "Written" else None, o["out"]))
    m = re.match(r'Cas\{from:(.*),to:"(.*)",?\}', o["inp"])
    if m and o["out"] in ("Cas(true)", "Unknown"): allw.append((m.group(2), o["call"], o["ret"] if o["out"] == "Cas(true)" else None, o["out"]))
by_client = {}
for o in sorted(ops, key=lambda o: o["call"]):
    by_client.setdefault(o["client"], []).append(o)
n = 0
for c, seq in by_client.items():
    for i, o in enumerate(seq):
        m = re.match(r'Cas\{from:Some\("(.*)"\),to:"(.*)",?\}', o["inp"])
        if not m or o["out"] != "Cas(false)": continue
        v = m.group(1)
        prev = [p for p in seq[:i] if p["out"] == f'Read(Some("{v}"))']
        if not prev: continue
        r = prev[-1]
        cands = [w for w in allw if w[0] != v and w[1] < o["ret"] and (w[2] is None or w[2] > r["call"])]
        if not cands:
            print("UNEXPLAINED failed CAS", o, "after read", r); n += 1
print("unexplained", n)
wmap = {w[0]: w for w in allw}
rv = []
for o in ops:
    m = re.match(r'Read\(Some\("(.*)"\)\)', o["out"])
    if o["inp"] == "Read" and m and o["ret"] is not None: rv.append((o, m.group(1)))
# successful CAS also reads `from`
for o in ops:
    m = re.match(r'Cas\{from:Some\("(.*)"\),to:"(.*)",?\}', o["inp"])
    if m and o["out"] == "Cas(true)": rv.append((o, m.group(1)))
rv.sort(key=lambda x: x[0]["call"])
k = 0
for a, va in rv:
    for b, vb in rv:
        if b["call"] <= a["ret"] or va == vb: continue
        wa, wb = wmap.get(va), wmap.get(vb)
        if not wa or not wb or wb[2] is None: continue
        # vb's write completed before va's write began: vb is older than va
        if wb[2] < wa[1]:
            print("NEW-THEN-OLD:", a["client"], va, a["call"], a["ret"], "then", b["client"], vb, b["call"], b["ret"], "| writes", wa[1:], wb[1:])
            k += 1
            if k > 5: break
    if k > 5: break
print("new-then-old", k)
with open("/tmp/hist.tsv", "w") as f:
    for o in ops:
        inp, out = o["inp"], o["out"]
        if inp == "Read": i = "R\t\t"
        elif inp.startswith("Write"): i = "W\t\t" + re.match(r'Write\("(.*)"\)', inp).group(1)
        else:
            m = re.match(r'Cas\{from:(Some\("(.*)"\)|None),to:"(.*)",?\}', inp)
            i = "C\t" + (m.group(2) if m.group(2) is not None else "<none>") + "\t" + m.group(3)
        if out.startswith("Read(Some"): ot = "R\t" + re.match(r'Read\(Some\("(.*)"\)\)', out).group(1)
        elif out == "Read(None)": ot = "R\t<none>"
        elif out == "Written": ot = "W\t"
        elif out.startswith("Cas("): ot = "C\t" + out[4:-1]
        else: ot = "U\t"
        f.write(f'{o["client"]}\t{o["call"]}\t{o["ret"] if o["ret"] is not None else -1}\t{i}\t{ot}\n')
# Two reads that both began after the acknowledged writes of both their values, yet disagree:
# after both writes the register holds the later one until a third write, and unique values
# never come back, so one of the reads is stale or one acknowledged write was lost.
k = 0
for a, va in rv:
    wa = wmap.get(va)
    if not wa or wa[2] is None or wa[2] >= a["call"]:
        continue
    for b, vb in rv:
        wb = wmap.get(vb)
        if vb == va or not wb or wb[2] is None:
            continue
        if wb[2] < a["call"] and wb[2] < b["call"] and wa[2] < b["call"]:
            print("DISAGREE after both acknowledged:", a["client"], va, a["call"], a["ret"], "|", b["client"], vb, b["call"], b["ret"], "| writes", wa[1:3], wb[1:3])
            k += 1
            break
    if k > 5:
        break
print("disagreeing pairs", k)
