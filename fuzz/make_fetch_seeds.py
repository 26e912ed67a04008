#!/usr/bin/env python3
"""Writes the seeds of fuzz_document_fetch (fuzz/corpus/fuzz_document_fetch/): sequences of
broker replies, each an Envelope (protoc --encode from text format) prefixed by its length
(2 bytes, little-endian). Run from anywhere."""
import hashlib
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus", "fuzz_document_fetch")
BIT = 1 << 62
SMALL = b"%PDF-1.7\nok"


def esc(b):
    return "".join(f"\\{c:03o}" for c in b)


def envelope(text):
    done = subprocess.run(["protoc", "--encode=flatcast.v1.Envelope", "-I", os.path.join(ROOT, "proto"),
                           "-I", "/usr/include", os.path.join(ROOT, "proto", "flatcast.proto")],
                          input=text.encode(), capture_output=True, check=True)
    return len(done.stdout).to_bytes(2, "little") + done.stdout


def chunk(corr, data, sha=SMALL, size=None, media="application/pdf", offset=0):
    size = len(sha) if size is None else size
    return envelope(f'protocol_version: 1 correlation_id: {corr} attachment_chunk {{ sha256: "{esc(hashlib.sha256(sha).digest())}" '
                    f'offset: {offset} size: {size} media_type: "{media}" data: "{esc(data)}" }}')


def error(corr, code):
    return envelope(f'protocol_version: 1 correlation_id: {corr} error {{ code: {code} message: "busy" }}')


os.makedirs(OUT, exist_ok=True)
seeds = {
    "kept.bin": chunk(BIT | 1, SMALL),
    "forged.bin": chunk(BIT | 1, b"%PDF-1.7\nno"),
    "wrong-size.bin": chunk(BIT | 1, SMALL, size=12),
    "busy-then-kept.bin": error(BIT | 1, "UNAVAILABLE") + chunk(BIT | 2, SMALL),
    "missing.bin": error(BIT | 1, "NOT_FOUND"),
    "stale.bin": chunk(BIT | 7, SMALL, offset=262144),
}
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
