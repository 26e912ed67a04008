#!/usr/bin/env python3
"""Attached documents beside the fan-out (docs/BENCHMARKS.md, docs/PROTOCOL.md "Attachments").

Real processes only, every connection CURVE: a broker, swarm terminals for every
unit of a region (default 52, Guizhou: 19,571) that fetch the documents attached
to what they receive (flatcast-swarm --fetch-documents: each chunk asked for,
the whole checked against its SHA-256). Each round:

  alone      a small directive to the whole region: publish -> last RECEIVED durable
  document   a directive with a 5 MB PDF to the communities of one district (default
             520102, 南明区), uploaded with flatcast-publisher --attach; then at once
             the small directive to the whole region while those terminals fetch the
             document: the small one's fan-out time, and the time until every
             addressed terminal holds the document, checked

  python3 bench/attachment_bench.py [--repeat 3] [--doc-mb 5] [--doc-region 520102]

Standard library only.
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import flatcast_bench  # noqa: E402
from flatcast_bench import BenchError, log  # noqa: E402

REPO = flatcast_bench.REPO


class AttachmentBench(flatcast_bench.Flatcast):
    def swarm_args(self):
        return ["--fetch-documents"]

    def publish_document(self, path, title):
        """Uploads `path` and publishes a directive to the district's communities with it;
        the time the CLI took (upload and publish)."""
        argv = [os.path.join(self.bin, "flatcast-publisher"), "--broker", self.endpoint,
                "--publisher", "guizhou-health", "--json",
                "--signing-key", os.path.join(self.keys, "publisher-sign.key"),
                *self.client_security(), "publish", "--issuer", "52", "--department", "HEALTH",
                "--title", title, "--body", "See the attached notice.",
                "--action", "Post the notice|community", "--scope", self.args.doc_region,
                "--tiers", "community", "--attach", path]
        t0 = time.time()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise BenchError(f"publish with a document failed: {done.stderr.strip()}")
        return time.time() - t0


def community_count(registry, region):
    n = 0
    with open(registry, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[0].startswith(region) and parts[1] == "community":
                n += 1
    return n


def make_pdf(path, size, seed):
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(b"%PDF-1.7\n")
        f.write(rng.randbytes(size - 9))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    flatcast_bench.add_arguments(p)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--doc-mb", type=float, default=5.0, help="the document's size, MB (10^6 bytes)")
    p.add_argument("--doc-region", default="520102", help="the document goes to this region's communities")
    p.add_argument("--out", help="write the JSON here")
    args = p.parse_args()
    bench = AttachmentBench(args, curve=True, label="attachment")
    fetchers = community_count(args.registry, args.doc_region)
    size = int(args.doc_mb * 1_000_000)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} {os.cpu_count()} CPUs",
              "region": args.region, "terminals": args.n, "document_bytes": size,
              "document_region": args.doc_region, "fetching_terminals": fetchers, "ok": False}
    try:
        bench.start_broker(os.path.join(bench.work, "data"))
        swarms = bench.start_swarms("attachment")
        bench.wait_connected("attachment", swarms, args.n)
        alone, beside, fetch_s, upload_s = [], [], [], []
        for r in range(args.repeat):
            alone.append(bench.fanout_round(swarms))
            log(f"round {r + 1}: alone {alone[-1]} ms")
            pdf = os.path.join(bench.work, f"notice-{r}.pdf")
            make_pdf(pdf, size, r)
            kept0 = bench.total(swarms, "documents_kept")
            upload_s.append(round(bench.publish_document(pdf, f"Notice with a document {r + 1}"), 2))
            t0 = time.time()
            beside.append(bench.fanout_round(swarms))
            bench.wait_until(lambda: bench.total(swarms, "documents_kept") >= kept0 + fetchers,
                             args.timeout_s * 3, "document: every terminal has it", swarms)
            fetch_s.append(round(time.time() - t0, 2))
            log(f"round {r + 1}: upload {upload_s[-1]} s; fan-out beside {fetchers} fetches "
                f"{beside[-1]} ms; all {fetchers} hold the document after {fetch_s[-1]} s")
        result["fanout_alone_ms"] = {"runs": alone, "median": statistics.median(alone)}
        result["fanout_beside_document_ms"] = {"runs": beside, "median": statistics.median(beside)}
        result["document_everywhere_s"] = {"runs": fetch_s, "median": statistics.median(fetch_s)}
        result["upload_and_publish_s"] = {"runs": upload_s, "median": statistics.median(upload_s)}
        bench.stop_swarms(swarms)
        reports = []
        for s in swarms:
            with open(os.path.join(bench.work, s.name + ".json")) as f:
                reports.append(json.loads(f.read().strip().splitlines()[-1]))
        result["documents_kept"] = sum(x.get("documents_kept", 0) for x in reports)
        result["documents_refused"] = sum(x.get("documents_refused", 0) for x in reports)
        result["document_bytes_received"] = sum(x.get("document_bytes", 0) for x in reports)
        if result["documents_refused"]:
            raise BenchError(f"{result['documents_refused']} documents refused")
        result["ok"] = True
    finally:
        bench.kill_children()
        if not args.keep:
            shutil.rmtree(bench.work, ignore_errors=True)
    return flatcast_bench.write_result(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
