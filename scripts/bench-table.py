#!/usr/bin/env python3
"""Prints the README's performance table from criterion's results of one
`cargo bench -p agency-bench` run (target/criterion), as medians and as ratios
against the baselines measured in the same run."""
import json, pathlib, sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
med = {}
for f in root.glob("**/new/benchmark.json"):
    b = json.loads(f.read_text())
    est = json.loads((f.parent / "estimates.json").read_text())
    med[b["full_id"]] = est["median"]["point_estimate"]  # nanoseconds per iteration

def us(ns): return f"{ns / 1000:.2f} µs"

rows = ["| graph | native route (p50) | component route | native, batch of 100 (per msg) | component, batch of 100 (per msg) | naive `contains` | `RegexSet` |",
        "|---|---|---|---|---|---|---|"]
for g in ["example", "synthetic-500x5", "clinc", "clinc-per-agent"]:
    n = med.get(f"route/{g}/native")
    if n is None: continue
    c = med.get(f"route/{g}/component"); cb = med.get(f"route-batch/{g}/component")
    nb = med.get(f"route-batch/{g}/native")
    nv = med.get(f"route/{g}/naive-contains"); rx = med.get(f"route/{g}/regex-set")
    cell = lambda x, what: "n/a" if x is None else f"{us(x)} ({x / n:.2f}x {what})"
    batch = "n/a" if not (cb and nb) else f"{us(cb / 100)} ({cb / nb:.2f}x native batch)"
    rows.append(f"| {g} | {us(n)} | {cell(c, 'native')} | {'n/a' if nb is None else us(nb / 100)} | {batch} | "
                f"{'n/a' if nv is None else f'{us(nv)} (native is {nv / n:.0f}x faster)'} | "
                f"{'n/a (too many patterns)' if rx is None else f'{us(rx)} ({rx / n:.2f}x native)'} |")
print("\n".join(rows))
print()
inst = med.get("instantiate/component"); build = med.get("index-build/10000-keywords")
if inst: print(f"- component instantiation (`InstancePre` + pooling allocator, no index): {us(inst)}")
if build: print(f"- index build, 10,000 keywords (2,000 agents x 5): {build / 1e6:.2f} ms")
en = med.get("empty-message/native"); ec = med.get("empty-message/component")
if en and ec:
    print(f"- one call with an empty message (the fixed cost of a call): native {us(en)}, component {us(ec)}")
enb = med.get("empty-message/native-batch"); ecb = med.get("empty-message/component-batch")
if enb and ecb:
    print(f"- a batch of 100 empty messages, per message: native {us(enb / 100)}, component {us(ecb / 100)}")
