#!/usr/bin/env python3
"""The whole country on one machine (docs/RELAY.md, docs/BENCHMARKS.md).

Real processes, every connection CURVE: a national broker over the national
registry (665,276 units), a relay for each of the 31 provinces below it
(each with its region's cut of the registry and of the key registry), and
terminals for the provinces named by --terminals (default Guizhou 52, Ningxia
64, Hainan 46) in flatcast-swarm processes connected to their province's
relay; every other province's terminals are offline, so its relay stores
and waits. A national publisher (unit 00) addresses the whole country.

  python3 bench/national_bench.py --demo
      one national directive; prints progress, the national rollup per
      province beside each relay's state, and the figures
  python3 bench/national_bench.py [--repeat 3] [--out-dir build/bench-national]
      the benchmark: per run, fan-out rounds (national directive -> last
      delivery, -> last RECEIVED acknowledgement durable at the national
      broker), a burst of --burst directives (acknowledgements made durable
      per second at the national broker), and the national rollup of one
      directive over the whole registry, timed through flatcast-audit;
      medians in table.md
  --smoke: the same with a registry of three provinces from configs/registry
      and terminals for one district of each (ctest runs it)

The national registry is build/registry-national.tsv, made by
scripts/build-registry.sh --all. Standard library only.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import flatcast_bench  # noqa: E402
from flatcast_bench import BenchError, Swarm, common, log  # noqa: E402

REPO = flatcast_bench.REPO
TIERS = "city,district,street,community"


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def provinces_of(registry):
    """(code, name) of every province in the registry file, in order."""
    out = []
    with open(registry) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            code, tier, name = line.rstrip("\n").split("\t")[:3]
            if tier == "province":
                out.append((code, name))
    return out


class National:
    def __init__(self, args):
        self.args = args
        self.bin = args.bin_dir
        self.work = tempfile.mkdtemp(prefix="national-", dir=args.work_root)
        self.keys = os.path.join(self.work, "keys")
        os.makedirs(self.keys)
        self.children = []
        self.relays = {}     # province -> Child
        self.endpoints = {}  # province -> endpoint
        self.swarms = []
        self.provinces = provinces_of(args.registry)
        codes = [c for c, _ in self.provinces]
        for region in args.terminals:
            if region[:2] not in codes:
                raise BenchError(f"--terminals {region}: province {region[:2]} not in the registry")
        self.units = {region: flatcast_bench.read_units(args.registry, region)
                      for region in args.terminals}
        self.n = sum(len(u) for u in self.units.values())

    def k(self, name):
        return os.path.join(self.keys, name)

    def cli(self, program, *argv, timeout=600):
        done = subprocess.run([os.path.join(self.bin, program), *argv], capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise BenchError(f"{program} {' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout

    # -- preparation -------------------------------------------------------

    def prepare(self):
        started = time.time()
        k = self.k
        keys = lambda *a: self.cli("flatcast-keys", *a)  # noqa: E731
        keys("generate", "--kind", "curve", "--out", k("national"))
        keys("generate", "--kind", "curve", "--out", k("nhc-curve"))
        keys("generate", "--kind", "signing", "--out", k("nhc-sign"))
        keys("register", "--registry", k("keys.toml"), "--name", "nhc", "--role", "publisher",
             "--subject", "nhc", "--curve-pub", k("nhc-curve.pub"), "--signing-pub",
             k("nhc-sign.pub"))
        for code, _ in self.provinces:
            keys("generate", "--kind", "curve", "--out", k(f"relay-{code}"))
            keys("register", "--registry", k("keys.toml"), "--name", f"relay-{code}", "--role",
                 "relay", "--subject", code, "--curve-pub", k(f"relay-{code}.pub"))
        # The national broker admits relays and publishers: no unit key.
        keys("convert", "--registry", k("keys.toml"), "--out", k("national.keys"), "--to",
             "binary")
        keys("seed", "--out", k("units.seed"))
        for region in self.args.terminals:
            keys("register-units", "--registry", k("keys.toml"), "--seed", k("units.seed"),
                 "--units", self.args.registry, "--region", region, "--tiers", TIERS)
        keys("convert", "--registry", k("keys.toml"), "--out", k("all.keys"), "--to", "binary")
        for code, _ in self.provinces:
            keys("cut", "--registry", k("all.keys"), "--region", code, "--out",
                 k(f"relay-{code}.keys"))
            self.cli("flatcast-registry", "cut", self.args.registry, code, "--out",
                     os.path.join(self.work, f"relay-{code}.tsv"))
        with open(os.path.join(self.work, "publishers.toml"), "w") as f:
            f.write('[[publisher]]\nname = "nhc"\nunit = "00"\ndepartment = "NHC"\n')
        log(f"keys and cuts for {len(self.provinces)} provinces in {time.time() - started:.1f} s")

    # -- processes ---------------------------------------------------------

    def new_endpoint(self):
        return flatcast_bench.Flatcast.new_endpoint(self)

    def fresh_address(self):
        return flatcast_bench.Flatcast.fresh_address()

    def start_national(self, run):
        self.endpoint = self.new_endpoint()
        endpoint_file = os.path.join(self.work, "national.endpoint")
        argv = [os.path.join(self.bin, "flatcast-broker"), "--init",
                "--data-dir", os.path.join(self.work, f"national-{run}"),
                "--registry", self.args.registry, "--endpoint", self.endpoint,
                "--endpoint-file", endpoint_file,
                "--publishers", os.path.join(self.work, "publishers.toml"),
                "--keys", self.k("national.keys"), "--curve-key", self.k("national.key")]
        self.national = common.Child(f"national-{run}", argv, self.work)
        self.children.append(self.national)
        self.wait_for(lambda: os.path.exists(endpoint_file), 120, "national broker listening",
                      [self.national])

    def start_relays(self, run):
        started = time.time()
        for code, _ in self.provinces:
            self.endpoints[code] = self.new_endpoint()
            argv = [os.path.join(self.bin, "flatcast-broker"), "--init",
                    "--data-dir", os.path.join(self.work, f"relay-{code}-{run}"),
                    "--registry", os.path.join(self.work, f"relay-{code}.tsv"),
                    "--endpoint", self.endpoints[code],
                    "--relay-region", code, "--upstream", self.endpoint,
                    "--keys", self.k(f"relay-{code}.keys"),
                    "--curve-key", self.k(f"relay-{code}.key"),
                    "--relay-key", self.k(f"relay-{code}.key"),
                    "--upstream-key", self.k("national.pub")]
            relay = common.Child(f"relay-{code}-{run}", argv, self.work)
            self.relays[code] = relay
            self.children.append(relay)
        self.wait_for(lambda: self.relays_connected() == len(self.provinces), 180,
                      "every relay connected upstream", list(self.relays.values()))
        log(f"{len(self.provinces)} relays connected to the national broker in "
            f"{time.time() - started:.1f} s")

    def start_swarms(self, run):
        started = time.time()
        self.swarms = []
        for region in self.args.terminals:
            code = region[:2]
            shards = max(1, math.ceil(len(self.units[region]) / self.args.terminals_per_process))
            for shard in range(shards):
                label = f"swarm-{region}-{shard}-{run}"
                argv = [os.path.join(self.bin, "flatcast-swarm"),
                        "--registry", self.args.registry, "--endpoint", self.endpoints[code],
                        "--region", region, "--tiers", TIERS,
                        "--shard", str(shard), "--shards", str(shards),
                        "--report", os.path.join(self.work, label + ".json"),
                        "--latencies", os.path.join(self.work, label + ".lat"),
                        "--timeout-s", "3600", "--log-level", "warn",
                        "--source-address", self.fresh_address(),
                        "--key-seed", self.k("units.seed"),
                        "--broker-key", self.k(f"relay-{code}.pub")]
                self.swarms.append(Swarm(label, argv, self.work))
        self.children += self.swarms
        self.wait_for(lambda: self.total("welcomed") >= self.n, self.args.timeout_s,
                      "every terminal welcomed", self.swarms)
        log(f"{self.n} terminals in {len(self.swarms)} processes welcomed by their relays in "
            f"{time.time() - started:.1f} s")

    def total(self, key):
        return sum(int(s.progress.get(key, 0)) for s in self.swarms)

    def wait_for(self, predicate, timeout, what, children):
        deadline = time.time() + timeout
        while not predicate():
            for child in children:
                if not child.alive() and child.exit_code not in (0, None):
                    raise BenchError(f"{what}: {child.name} exited {child.exit_code}: "
                                     f"{child.stderr_tail()}")
            if time.time() > deadline:
                raise BenchError(f"{what}: timed out after {timeout} s")
            time.sleep(0.05)

    def stop_all(self):
        for child in self.children:
            if child.alive():
                child.signal(signal.SIGTERM)
        for child in self.children:
            if child.wait(30) is None:
                child.stop()
        self.children = []

    # -- clients -----------------------------------------------------------

    def security(self, broker_pub="national"):
        return ["--curve-key", self.k("nhc-curve.key"), "--broker-key", self.k(broker_pub + ".pub")]

    def audit(self, *argv, endpoint=None, broker_pub="national", fmt="json"):
        out = self.cli("flatcast-audit", "--broker", endpoint or self.endpoint,
                       *self.security(broker_pub), *argv, "--format", fmt, timeout=300)
        return json.loads(out) if fmt == "json" else out

    def relays_connected(self):
        try:
            cluster = self.audit("--timeout-ms", "2000", "cluster")
        except (BenchError, ValueError):
            return 0
        return sum(1 for r in cluster[0].get("relays", []) if r.get("connected"))

    def publish(self, count, pipeline=False):
        argv = ["--broker", self.endpoint, "--count", str(count), "--body-bytes", "4096",
                "--publisher", "nhc", "--issuer", "00", "--department", "NHC",
                "--scope", "00", "--tiers", TIERS, "--signing-key", self.k("nhc-sign.key"),
                *self.security()]
        if pipeline:
            argv.append("--pipeline")
        out = self.cli("flatcast-bench-publish", *argv, timeout=300)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def publish_file(self, path):
        """Publishes a directive file with flatcast-publisher, as a national publisher does;
        returns a receipt with the times the figures need."""
        t0 = common.now_us()
        out = self.cli("flatcast-publisher", "--broker", self.endpoint, "--json",
                       "--publisher", "nhc", "--signing-key", self.k("nhc-sign.key"),
                       *self.security(), "publish", "--file", path)
        receipt_us = common.now_us()
        receipt = json.loads(out)
        shown = json.loads(self.cli("flatcast-publisher", "--broker", self.endpoint, "--json",
                                    *self.security(), "--publisher", "nhc", "show",
                                    receipt["id"]))
        receipt.update({"t0_us": t0, "receipt_us": receipt_us,
                        "sent_us": flatcast_bench.parse_time_us(shown["directive"]["sent"])})
        return receipt

    def received_at_national(self, receipt):
        """(units whose RECEIVED is durable at the national broker, µs of the last)."""
        rows = self.audit("latency", receipt["id"])["rows"]
        received = rows[0]
        return received["units"], receipt["sent_us"] + received["max_ms"] * 1000

    def wait_national(self, receipts, timeout):
        last = {}
        deadline = time.time() + timeout
        for r in receipts:
            while True:
                units, at = self.received_at_national(r)
                if units >= self.n:
                    last[r["id"]] = at
                    break
                if time.time() > deadline:
                    raise BenchError(f"{r['id']}: {units} of {self.n} RECEIVED durable at the "
                                     "national broker")
                for child in self.children:
                    if not child.alive() and child.exit_code not in (0, None):
                        raise BenchError(f"{child.name} exited: {child.stderr_tail()}")
                time.sleep(0.1)
        return last

    def delivery_latencies(self):
        """Relay seq -> [µs from the directive's send to its receipt] over the swarms'
        latency files, written when the swarms stop. Every relay stores the national
        versions in the order they come, from 1, so a relay's seq k is the k-th."""
        by_seq = {}
        for s in self.swarms:
            path = os.path.join(self.work, s.name + ".lat")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    seq, us = line.split("\t")
                    by_seq.setdefault(int(seq), []).append(int(us))
        return by_seq

    # -- the runs ----------------------------------------------------------

    def fanout_round(self, file=None):
        before = self.total("received")
        receipt = self.publish_file(file) if file else self.publish(1)[0]
        self.wait_for(lambda: self.total("received") >= before + self.n, self.args.timeout_s,
                      "every connected unit has the national directive", self.swarms)
        last = self.wait_national([receipt], self.args.timeout_s)[receipt["id"]]
        return receipt, {
            "_offset_us": receipt["sent_us"] - receipt["t0_us"],
            "publish_call_ms": common.ms(receipt["receipt_us"] - receipt["t0_us"]),
            "publish_to_last_received_durable_at_national_ms":
                common.ms(last - receipt["t0_us"])}

    def burst(self, count):
        before = self.total("received")
        receipts = self.publish(count, pipeline=True)
        self.wait_for(lambda: self.total("received") >= before + count * self.n,
                      self.args.timeout_s * 3, "burst delivered", self.swarms)
        last = self.wait_national(receipts, self.args.timeout_s * 3)
        first_t0 = min(r["t0_us"] for r in receipts)
        span_us = max(last.values()) - first_t0
        return {"directives": count,
                "first_publish_to_last_received_durable_at_national_ms": common.ms(span_us),
                "received_acks_durable_per_s_at_national": round(count * self.n / (span_us / 1e6))}

    def rollup_timing(self, receipt, rounds):
        times = []
        for _ in range(rounds):
            t0 = time.time()
            self.audit("rollup", receipt["id"], "--depth", "street", fmt="csv")
            times.append(round((time.time() - t0) * 1000))
        return {"cli_ms": times, "median_ms": median(times)}

    def province_table(self, receipt):
        rollup = self.audit("rollup", receipt["id"], "--depth", "province")
        cluster = self.audit("cluster")
        relays = {r["region"]: r for r in cluster[0].get("relays", [])}
        rows = []
        for row in rollup["rows"]:
            r = relays.get(row["code"], {})
            rows.append({"code": row["code"], "name": row["name"], "addressed": row["addressed"],
                         "received": row["received"], "received_pct": row["received_pct"],
                         "relay_connected": r.get("connected"), "relay_cursor": r.get("cursor"),
                         "relay_log_cursor": r.get("log_cursor"),
                         "relay_last_heard": r.get("last_heard")})
        return rows

    def memory(self):
        def rss(child):
            return common.proc_status_kb(child.pid, "VmRSS") or 0
        relays = [rss(c) for c in self.relays.values()]
        return {"national_rss_kb": rss(self.national), "relays_rss_kb_total": sum(relays),
                "relay_rss_kb_max": max(relays) if relays else 0}

    def run(self, run_no, demo=False):
        self.start_national(run_no)
        self.start_relays(run_no)
        self.start_swarms(run_no)
        result = {"n": self.n, "relays": len(self.provinces), "rounds": []}
        rounds = 1 if demo else self.args.rounds
        receipt = None
        for r in range(rounds):
            receipt, fig = self.fanout_round(self.args.directive if demo else None)
            fig["kind"] = "cold" if r == 0 else "warm"
            result["rounds"].append(fig)
            log(f"round {r + 1}: {receipt['id']} to {receipt.get('addressed_units')} units; "
                f"every connected unit's RECEIVED durable at the national broker "
                f"{fig['publish_to_last_received_durable_at_national_ms']} ms after the publish")
        result["provinces"] = self.province_table(receipt)
        result["memory"] = self.memory()
        result["rollup_street"] = self.rollup_timing(receipt, 1 if demo else 5)
        if not demo and self.args.burst > 0:
            result["burst"] = self.burst(self.args.burst)
            log(f"burst of {self.args.burst}: {result['burst']}")
        # The swarms write their latencies when they stop.
        for s in self.swarms:
            s.signal(signal.SIGTERM)
        for s in self.swarms:
            if s.wait(60) is None:
                s.stop()
        by_seq = self.delivery_latencies()
        for i, fig in enumerate(result["rounds"]):
            lat = by_seq.get(i + 1, [])
            if len(lat) < self.n:
                raise BenchError(f"round {i + 1}: {len(lat)} of {self.n} deliveries recorded")
            fig["publish_to_last_delivery_ms"] = common.ms(max(lat) + fig.pop("_offset_us"))
        self.stop_all()
        return result

    def cleanup(self):
        self.stop_all()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def display_width(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text, width):
    return text + " " * max(0, width - display_width(text))


def print_provinces(rows):
    """The national rollup per province beside its relay's state."""
    print(f"{'code':<5} {pad('province', 16)} {'addressed':>9} {'received':>9} {'%':>6}  "
          "relay: connected, last version stored, its log stored upstream up to, last heard")
    for r in rows:
        print(f"{r['code']:<5} {pad(r['name'], 16)} {r['addressed']:>9} {r['received']:>9} "
              f"{r['received_pct']:>6}  {r['relay_connected']}, {r['relay_cursor']}, "
              f"{r['relay_log_cursor']}, {r['relay_last_heard']}")
    full = [r for r in rows if r["addressed"] and r["received"] == r["addressed"]]
    none = [r for r in rows if r["received"] == 0]
    print(f"{sum(r['received'] for r in rows)} of {sum(r['addressed'] for r in rows)} units "
          f"have it and acknowledged it: {len(full)} provinces at 100 %, {len(none)} at 0 % "
          "(their terminals offline; their relays hold the directive)")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    p.add_argument("--registry", default=os.path.join(REPO, "build", "registry-national.tsv"))
    p.add_argument("--terminals", default="52,64,46",
                   help="regions whose units have terminals (comma-separated)")
    p.add_argument("--terminals-per-process", type=int, default=6600)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--burst", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout-s", type=int, default=300)
    p.add_argument("--work-root", default=None)
    p.add_argument("--out-dir", default=os.path.join(REPO, "build", "bench-national"))
    p.add_argument("--demo", action="store_true")
    p.add_argument("--directive", default=os.path.join(REPO, "configs", "national-directive.toml"),
                   help="with --demo: the directive file flatcast-publisher publishes")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    args.terminals = [t for t in args.terminals.split(",") if t]
    smoke_dir = None
    if args.smoke:
        smoke_dir = tempfile.mkdtemp(prefix="national-smoke-")
        args.registry = os.path.join(smoke_dir, "three-provinces.tsv")
        with open(args.registry, "w") as out:
            for name in ("guizhou-52.tsv", "ningxia-64.tsv", "hainan-46.tsv"):
                with open(os.path.join(REPO, "configs", "registry", name)) as f:
                    out.write(f.read())
        args.terminals = ["520102", "640104", "460105"]
        args.rounds, args.burst, args.repeat, args.timeout_s = 2, 3, 1, 120
    if not os.path.exists(args.registry):
        raise SystemExit(f"{args.registry} not found: scripts/build-registry.sh --all {args.registry}")
    if args.demo:
        args.repeat = 1
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.time()
    runs, failures = [], []
    for repeat in range(args.repeat):
        log(f"== run {repeat + 1} of {args.repeat}")
        bench = National(args)
        try:
            bench.prepare()
            runs.append(bench.run(repeat + 1, demo=args.demo))
        except BenchError as e:
            failures.append(f"run {repeat + 1}: {e}")
            log(f"FAILED: {e}")
        finally:
            bench.cleanup()
    if smoke_dir:
        shutil.rmtree(smoke_dir, ignore_errors=True)
    if not runs:
        for f in failures:
            print("FAILED " + f)
        return 1

    def warm(key):
        return median([median([r[key] for r in run["rounds"] if r["kind"] == "warm"] or
                              [r[key] for r in run["rounds"]]) for run in runs])

    n = runs[0]["n"]
    figures = {
        "publish → last delivery, warm median (ms)": warm("publish_to_last_delivery_ms"),
        "publish → last RECEIVED durable at the national broker, warm median (ms)":
            warm("publish_to_last_received_durable_at_national_ms"),
        "national rollup to street depth over the whole registry, flatcast-audit (ms)":
            median([run["rollup_street"]["median_ms"] for run in runs]),
        "national broker RSS (MiB)": round(median([run["memory"]["national_rss_kb"]
                                                   for run in runs]) / 1024),
        "all relays' RSS together (MiB)": round(median([run["memory"]["relays_rss_kb_total"]
                                                        for run in runs]) / 1024),
    }
    if all("burst" in run for run in runs):
        figures[f"burst of {args.burst}: RECEIVED acks made durable per second at the national "
                "broker"] = median([run["burst"]["received_acks_durable_per_s_at_national"]
                                    for run in runs])
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv),
              "connected_units": n, "terminals": args.terminals, "relays": runs[0]["relays"],
              "figures": figures, "runs": runs, "failures": failures,
              "elapsed_s": round(time.time() - started, 1)}
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
    lines = [f"{runs[0]['relays']} province relays, {n} connected terminals "
             f"({', '.join(args.terminals)}), CURVE, medians of {len(runs)} run(s), "
             f"{result['date']}", "", "| figure | value |", "|---|---|"]
    for k, v in figures.items():
        lines.append(f"| {k} | {v} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(text)
    print()
    print_provinces(runs[-1]["provinces"])
    print()
    print(text)
    for f in failures:
        print("FAILED " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
