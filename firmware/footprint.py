#!/usr/bin/env python3
"""Flash and RAM of the firmware binaries, and what the flash is spent on.

Usage: python3 footprint.py [bin ...]   (after `cargo build --release`; default: all)
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


def main():
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


if __name__ == "__main__":
    main()
