#!/usr/bin/env python3
"""Where a firmware binary can still panic: every call into core's panic functions, named by
the innermost frame outside `core` (crate::function at file:line, inlining resolved).

Usage: python3 panic_sites.py BIN   (after a release build with `--features find-panics`,
or `--features embedded-tls` for `w5500_tls`). Prints a Markdown list and the count per crate.
"""
import collections
import re
import subprocess
import sys

TARGET = "target/thumbv7em-none-eabihf/release/"
PANICS = re.compile(r"\bbl?(\.w)?\s+[0-9a-f]+ <(core::panicking::|core::slice::index::|"
                    r"core::option::unwrap_failed|core::option::expect_failed|"
                    r"core::result::unwrap_failed|core::slice::copy_from_slice_impl|"
                    r"core::cell::panic_already)")


def main():
    path = TARGET + sys.argv[1]
    dis = subprocess.run(["arm-none-eabi-objdump", "-dC", path], check=True,
                         capture_output=True, text=True).stdout
    addrs = [m.group(1) for m in (re.match(r"^\s*([0-9a-f]+):(.*)$", l) for l in dis.splitlines())
             if m and PANICS.search(m.group(2))]
    if not addrs:
        print(f"{sys.argv[1]}: no panic path")
        return
    # addr2line -i prints function/location pairs, innermost first: one address at a time.
    sites = collections.Counter()
    for a in addrs:
        frames = subprocess.run(["arm-none-eabi-addr2line", "-f", "-i", "-C", "-e", path,
                                 "0x" + a], check=True, capture_output=True,
                                text=True).stdout.splitlines()
        pairs = list(zip(frames[::2], frames[1::2]))
        site = next(((f, loc) for f, loc in pairs
                     if not f.startswith(("core::", "<core::")) and "/rustc/" not in loc),
                    pairs[0] if pairs else ("?", "?"))
        fn, loc = site
        if "/rustc/" in loc:
            continue  # core's panic functions calling one another
        loc = re.sub(r".*/registry/src/[^/]+/", "", loc)
        loc = re.sub(r".*/work/main/", "", loc)
        sites[(fn, loc)] += 1
    crates = collections.Counter()
    for (fn, loc), n in sorted(sites.items()):
        crate = loc.split("/")[0]
        crates[crate] += n
        print(f"- `{fn}` ({loc}): {n}")
    print()
    print(f"{sys.argv[1]}: {len(addrs)} panic call sites; by crate: "
          + ", ".join(f"{c} {n}" for c, n in crates.most_common()))


if __name__ == "__main__":
    main()
