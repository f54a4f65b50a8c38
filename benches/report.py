#!/usr/bin/env python3
"""Prints the codec benchmark as a Markdown table of times and ratios.

Reads criterion's estimates under target/criterion after `cargo bench --bench codec`.
Ratios compare implementations measured in the same run: "x faster" is peer time / umqtt
time; "vs copy" is umqtt time / time to copy the payload.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median_ns(direction, case, imp):
    f = root / f"{direction}_{case}" / imp / "new" / "estimates.json"
    if not f.exists():
        return None
    return json.loads(f.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "–"
    return f"{ns:,.0f} ns" if ns >= 100 else f"{ns:.1f} ns"


cases = {p.name.split("_", 1)[1] for p in root.glob("decode_*")}


def order(case):
    """CONNECT first, then PUBLISH by QoS and payload size, then the rest."""
    if case.startswith("publish"):
        _, qos, size = case.split("_")
        return (1, qos, int(size.rstrip("B")))
    return (0 if case.startswith("connect") else 2, case, 0)


for direction in ["decode", "encode"]:
    print(f"\n### {direction}\n")
    print("| packet | umqtt | mqttrs | rumqttc v4 | copy payload | vs mqttrs | vs rumqttc | umqtt / copy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case in sorted(cases, key=order):
        t = {imp: median_ns(direction, case, imp) for imp in ["umqtt", "mqttrs", "rumqttc", "copy"]}
        u = t["umqtt"]
        ratio = lambda peer: f"{peer / u:.1f}x faster" if peer and u else "–"
        vs_copy = f"{u / t['copy']:.2f}" if t["copy"] and u else "–"
        print(f"| {case} | {fmt(u)} | {fmt(t['mqttrs'])} | {fmt(t['rumqttc'])} | {fmt(t['copy'])} "
              f"| {ratio(t['mqttrs'])} | {ratio(t['rumqttc'])} | {vs_copy} |")
