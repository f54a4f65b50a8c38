#!/usr/bin/env python3
"""Flash and RAM of the firmware binaries, and what the flash is spent on.

Usage: python3 footprint.py [bin ...]   (after `cargo build --release`; default: all)
       python3 footprint.py --areas [bin]  (where umqtt's own bytes go; default: client)
Prints a Markdown table: per binary, flash (.vector_table + .text + .rodata) and RAM
(.data + .bss), then bytes of code by owner: umqtt, w5500-io, core (from_utf8, fmt, ...), memory
builtins (memcpy/memmove/memset from compiler_builtins), TLS (embedded-tls and the RustCrypto
crates under it, in `w5500_tls`), and the rest (the program, board
support, the runtime, the vector table). "over `empty`" subtracts the baseline binary (runtime,
vector table, semihosting exit); "without mem builtins" also leaves out memcpy/memmove/memset,
which a C build takes from libc and does not count either.
"""
import os
import subprocess
import sys

TARGET = "target/thumbv7em-none-eabihf/release/"


def sections(path):
    out = subprocess.run(["arm-none-eabi-size", "-A", path], check=True,
                         capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    flash = sum(sizes.get(s, 0) for s in (".vector_table", ".text", ".rodata"))
    ram = sum(sizes.get(s, 0) for s in (".data", ".bss"))
    return flash, ram


# embedded-tls and the crates it brings (crypto, DER, RNG).
TLS_CRATES = ("embedded_tls::", "p256::", "elliptic_curve::", "ecdsa::", "primeorder::",
              "crypto_bigint::", "aes::", "aes_gcm::", "ghash::", "polyval::", "ctr::",
              "sha2::", "hkdf::", "hmac::", "digest::", "der::", "const_oid::", "sec1::",
              "spki::", "pkcs8::", "subtle::", "rand_chacha::", "signature::", "rfc6979::",
              "generic_array::", "cipher::", "aead::", "ff::", "group::")


def owner(name):
    if any(c in name for c in TLS_CRATES) and "umqtt::" not in name.split("<")[0]:
        return "tls"
    if "umqtt::" in name and "umqtt_firmware" not in name:
        return "umqtt"
    if "w5500_io::" in name:
        return "w5500-io"
    if name.startswith(("mem", "__aeabi_mem")) or "compiler_builtins::mem" in name:
        return "mem builtins"
    if name.startswith(("core::", "<core::")) or "compiler_builtins" in name:
        return "core"
    return "rest"


def owners(path):
    out = subprocess.run(["arm-none-eabi-nm", "-C", "-S", "--size-sort", path], check=True,
                         capture_output=True, text=True).stdout
    by = {"umqtt": 0, "w5500-io": 0, "tls": 0, "core": 0, "mem builtins": 0, "rest": 0}
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[2] not in "tTrR":
            continue
        by[owner(parts[3])] += int(parts[1], 16)
    return by


# FreeRTOS coreMQTT v2.3.1 built the same way (FOOTPRINT.md, "Against FreeRTOS coreMQTT").
COREMQTT = 6_890

# Where umqtt's own bytes go (`footprint.py --areas client`): first pattern that matches.
AREAS = [
    ("session store", ("umqtt::client::store::",)),
    ("client core (Client::advance and the state machine)", ("umqtt::client::",)),
    ("drivers (blocking, non-blocking, async, the shared body)", ("umqtt::driver::",)),
    ("encoder", ("encode", "Writer", "umqtt::packet::cursor::Writer")),
    ("UTF-8 and topic validation",
     ("umqtt::packet::scan::", "umqtt::packet::topic::", "MqttStr", "topic_name")),
    ("decoder", ("umqtt::packet::",)),
]


def areas(path):
    out = subprocess.run(["arm-none-eabi-nm", "-C", "-S", "--size-sort", path], check=True,
                         capture_output=True, text=True).stdout
    by = {name: 0 for name, _ in AREAS}
    by["other umqtt"] = 0
    top = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[2] not in "tTrR" or owner(parts[3]) != "umqtt":
            continue
        size, name = int(parts[1], 16), parts[3]
        area = next((a for a, pats in AREAS if any(p in name for p in pats)), "other umqtt")
        by[area] += size
        top.append((size, name))
    print("| where | bytes |")
    print("|---|---:|")
    for area, size in by.items():
        print(f"| {area} | {size:,} |")
    print(f"| **all umqtt symbols** | **{sum(by.values()):,}** |")
    print()
    print("| largest umqtt functions | bytes |")
    print("|---|---:|")
    for size, name in sorted(top, reverse=True)[:12]:
        short = name if len(name) < 110 else name[:107] + "..."
        print(f"| `{short}` | {size:,} |")


def main():
    if sys.argv[1:2] == ["--areas"]:
        areas(TARGET + (sys.argv[2] if len(sys.argv) > 2 else "client"))
        return
    bins = sys.argv[1:] or ["empty", "codec", "client", "w5500"] + [
        b for b in ("w5500_tls", "w5500_persist") if os.path.exists(TARGET + b)]
    base_flash, _ = sections(TARGET + "empty")
    base_mem = owners(TARGET + "empty")["mem builtins"]
    print("| binary | flash | over `empty` | over `empty`, without mem builtins "
          "| RAM (static) | umqtt symbols | w5500-io symbols | TLS | core | mem builtins | rest |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in bins:
        flash, ram = sections(TARGET + b)
        o = owners(TARGET + b)
        over = flash - base_flash
        lean = over - (o["mem builtins"] - base_mem)
        print(f"| `{b}` | {flash:,} | {over:,} | {lean:,} | {ram:,} | {o['umqtt']:,} | "
              f"{o['w5500-io']:,} | {o['tls']:,} | {o['core']:,} | {o['mem builtins']:,} | "
              f"{o['rest']:,} |")
    if not sys.argv[1:]:  # the full table (CI prints it)
        umqtt = owners(TARGET + "client")["umqtt"]
        print(f"\nblocking client, umqtt's own code: {umqtt:,} bytes; FreeRTOS coreMQTT v2.3.1 "
              f"(core_mqtt + state + serializer, arm-none-eabi-gcc 12.2 -Os, Cortex-M4): "
              f"{COREMQTT:,} bytes ({umqtt / COREMQTT:.2f}x)")


if __name__ == "__main__":
    main()
