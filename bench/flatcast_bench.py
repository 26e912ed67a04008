#!/usr/bin/env python3
"""flatcast side of the benchmark (docs/BENCHMARKS.md).

Starts the real flatcast-broker (its normal configuration: RocksDB on disk,
synced writes, the publishers file, a key registry and, unless --no-curve,
CURVE with a registered key for every unit), a terminal swarm of N real
ZeroMQ connections spread over several flatcast-swarm processes (the same
TerminalSession as the subscriber daemon, each unit with its own key derived
from a seed), and publishes with flatcast-bench-publish (the publisher
library). Each workload gets a fresh broker and store. Standard library only;
shares its process and statistics helpers with bench/mqtt/mqtt_bench.py.

Workloads:
  fanout   one 4 KiB directive to all N units, R rounds (1 cold, then warm)
  burst    20 directives back to back (sent at once) to all N units; durable acks/s
  catchup  20 % of the units offline while 10 directives are published, then
           back (broker up)
  storm    the broker is killed (SIGKILL) under all N connected units and
           restarted; 10 directives are published while all reconnect
"""

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mqtt"))
import mqtt_bench as common  # noqa: E402  (Child, percentiles, /proc readers)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ALL_WORKLOADS = ["fanout", "burst", "catchup", "storm"]
log = common.log
ms = common.ms
now_us = common.now_us


class BenchError(Exception):
    pass


class Swarm(common.Child):
    """A flatcast-swarm process: progress lines, then the summary (which has "expect")."""

    def _read(self):
        for line in self.popen.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            if "expect" in obj:
                self.report = obj
            else:
                self.progress = obj


def read_units(registry, region):
    """Every unit at or below `region` but the provinces (the terminals), as (registry index,
    code): flatcast-swarm --shard K --shards S plays those whose index is K modulo S."""
    units = []
    index = 0
    with open(registry) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            code, tier = line.split("\t")[:2]
            if tier != "province" and code.startswith(region):
                units.append((index, code))
            index += 1
    if not units:
        raise BenchError(f"no units below region {region}")
    return units


def parse_time_us(text):
    """RFC 3339 UTC with up to 9 fractional digits, as flatcast prints it."""
    text = text.rstrip("Z")
    whole, _, frac = text.partition(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000000 + int((frac + "000000")[:6] or 0)


class Flatcast:
    def __init__(self, args, curve=True, label="flatcast"):
        self.args = args
        self.curve = curve
        self.label = label
        self.bin = args.bin_dir
        for program in ("flatcast-broker", "flatcast-swarm", "flatcast-bench-publish",
                        "flatcast-keys", "flatcast-audit"):
            if not os.access(os.path.join(self.bin, program), os.X_OK):
                raise BenchError(f"{program} not found in {self.bin} (build it first)")
        self.work = tempfile.mkdtemp(prefix=f"{label}-bench-", dir=args.work_root)
        self.units = read_units(args.registry, args.region)
        args.n = len(self.units)
        self.endpoint = None  # a new one for each fresh broker (new_endpoint)
        self.broker = None
        self.children = []
        self.runs = 0
        self.failures = []
        self.results = {}
        self.keys = os.path.join(self.work, "keys")
        self.make_keys()

    # -- keys --------------------------------------------------------------

    def keys_cli(self, *argv):
        done = subprocess.run([os.path.join(self.bin, "flatcast-keys"), *argv],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"flatcast-keys {' '.join(argv)}: {done.stderr.strip()}")

    def make_keys(self):
        os.makedirs(self.keys)
        k = lambda name: os.path.join(self.keys, name)  # noqa: E731
        self.keys_cli("generate", "--kind", "curve", "--out", k("broker"))
        self.keys_cli("generate", "--kind", "curve", "--out", k("publisher-curve"))
        self.keys_cli("generate", "--kind", "signing", "--out", k("publisher-sign"))
        self.keys_cli("register", "--registry", k("registry.toml"), "--name", "guizhou-health",
                      "--role", "publisher", "--subject", "guizhou-health", "--curve-pub",
                      k("publisher-curve.pub"), "--signing-pub", k("publisher-sign.pub"))
        self.keys_cli("seed", "--out", k("swarm.seed"))
        self.keys_cli("register-units", "--registry", k("registry.toml"), "--seed",
                      k("swarm.seed"), "--units", self.args.registry)

    def client_security(self):
        if not self.curve:
            return []
        return ["--curve-key", os.path.join(self.keys, "publisher-curve.key"),
                "--broker-key", os.path.join(self.keys, "broker.pub")]

    # -- the broker --------------------------------------------------------

    @staticmethod
    def fresh_address():
        """A random loopback address (127.16.0.1 and up), most likely unused so far."""
        return f"127.{random.randint(16, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"

    def new_endpoint(self):
        """A loopback address and port no earlier connection used: after a run, tens of
        thousands of connections linger in TIME_WAIT, and a new connection whose 4-tuple meets
        one of them has its SYN answered as part of the old connection and retries for up to
        63 s. The port is below the ephemeral range, so no client ever had it either."""
        for _ in range(100):
            host = self.fresh_address()
            port = random.randint(20000, 32000)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind((host, port))
                except OSError:
                    continue
            return f"tcp://{host}:{port}"
        raise BenchError("no free loopback address and port")

    def start_broker(self, data_dir, fresh=True):
        if fresh or self.endpoint is None:
            self.endpoint = self.new_endpoint()
        endpoint_file = os.path.join(self.work, "endpoint")
        if os.path.exists(endpoint_file):
            os.remove(endpoint_file)
        argv = [os.path.join(self.bin, "flatcast-broker"), "--data-dir", data_dir,
                "--registry", self.args.registry, "--endpoint", self.endpoint,
                "--endpoint-file", endpoint_file,
                "--publishers", os.path.join(REPO, "configs", "publishers.toml"),
                "--keys", os.path.join(self.keys, "registry.toml"), *self.args.broker_arg]
        if fresh:
            argv.append("--init")
        if self.curve:
            argv += ["--curve-key", os.path.join(self.keys, "broker.key")]
        self.runs += 1
        self.broker = common.Child(f"broker-{self.runs}", argv, self.work)
        self.children.append(self.broker)
        started = time.time()
        while not os.path.exists(endpoint_file):
            if not self.broker.alive():
                raise BenchError(f"broker exited at start: {self.broker.stderr_tail()}")
            if time.time() - started > 120:
                raise BenchError("broker did not start in time")
            time.sleep(0.01)
        return time.time() - started

    def broker_rss_kb(self):
        return common.proc_status_kb(self.broker.pid, "VmRSS")

    def broker_hwm_kb(self):
        return common.proc_status_kb(self.broker.pid, "VmHWM")

    def broker_cpu_s(self):
        return common.proc_cpu_s(self.broker.pid)

    def stop_broker(self, sig=signal.SIGTERM):
        hwm = self.broker_hwm_kb()
        cpu = self.broker_cpu_s()
        self.broker.signal(sig)
        self.broker.wait(60)
        return hwm, cpu

    # -- terminals and publishing ------------------------------------------

    def start_swarms(self, name, expect=None, shards=None, only=None, levels=()):
        """Starts `shards` swarm processes (default: enough for N); `only` limits them to
        those shard numbers, for the catch-up."""
        shards = shards or max(1, -(-self.args.n // self.args.terminals_per_process))
        swarms = []
        for shard in range(shards):
            if only is not None and shard not in only:
                continue
            label = f"{name}-swarm-{shard}"
            argv = [os.path.join(self.bin, "flatcast-swarm"), "--registry", self.args.registry,
                    "--endpoint", self.endpoint, "--tiers", "city,district,street,community",
                    "--region", self.args.region,
                    "--shard", str(shard), "--shards", str(shards),
                    "--report", os.path.join(self.work, label + ".json"),
                    "--latencies", os.path.join(self.work, label + ".lat"),
                    "--timeout-s", str(self.args.timeout_s * 3), "--log-level", "warn"]
            if expect is not None:
                argv += ["--expect", str(expect)]
            if levels:
                argv += ["--ack-levels", ",".join(levels)]
            argv += ["--source-address", self.fresh_address()]
            argv += self.swarm_args()
            if self.curve:
                argv += ["--key-seed", os.path.join(self.keys, "swarm.seed"),
                         "--broker-key", os.path.join(self.keys, "broker.pub")]
            swarms.append(Swarm(label, argv, self.work))
        self.children += swarms
        return swarms

    def swarm_args(self):
        """Extra flatcast-swarm arguments of this system."""
        return []

    @staticmethod
    def total(swarms, key):
        return sum(int(s.progress.get(key, 0)) for s in swarms)

    def wait_until(self, predicate, timeout, what, children):
        deadline = time.time() + timeout
        while not predicate():
            for child in children:
                if not child.alive() and child.exit_code not in (0, None):
                    raise BenchError(f"{what}: {child.name} exited {child.exit_code}: "
                                     f"{child.stderr_tail()}")
            if time.time() > deadline:
                raise BenchError(f"{what}: timed out after {timeout} s: " +
                                 json.dumps([c.progress for c in children])[:1500])
            time.sleep(0.02)

    def wait_connected(self, name, swarms, count):
        started = time.time()
        self.wait_until(lambda: self.total(swarms, "welcomed") >= count, self.args.timeout_s,
                        f"{name}: all terminals welcomed", swarms)
        return time.time() - started

    def publish(self, count, retries_s=0, pipeline=False):
        argv = [os.path.join(self.bin, "flatcast-bench-publish"), "--broker", self.endpoint,
                *(["--pipeline"] if pipeline else []),
                "--count", str(count), "--body-bytes", str(self.args.bytes),
                "--scope", self.args.region,
                "--signing-key", os.path.join(self.keys, "publisher-sign.key"),
                *self.client_security()]
        deadline = time.time() + retries_s
        while True:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=self.args.timeout_s + 60)
            if done.returncode == 0:
                return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
            if time.time() > deadline:
                raise BenchError(f"publish failed: {done.stderr.strip()}")
            time.sleep(0.1)

    def fanout_round(self, swarms):
        """One directive to every swarm terminal: ms from the publish call to its last RECEIVED
        acknowledgement durable."""
        before = self.total(swarms, "received")
        receipt = self.publish(1)[0]
        self.wait_until(lambda: self.total(swarms, "received") >= before + self.args.n,
                        self.args.timeout_s, "fanout: delivered", swarms)
        last = self.wait_durable("fanout", [receipt], swarms)
        return ms(last[receipt["id"]] - receipt["t0_us"])

    def audit(self, *argv):
        sec = []
        if self.curve:
            sec = self.client_security()  # a publisher may query
        done = subprocess.run([os.path.join(self.bin, "flatcast-audit"), "--broker",
                               self.endpoint, *sec, *argv, "--format", "json"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"flatcast-audit {' '.join(argv)}: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def durable(self, receipt):
        """(RECEIVED acks durable, time of the last one in µs) of a directive."""
        latency = self.audit("latency", receipt["id"])
        received = latency["rows"][0]
        return received["units"], receipt["sent_us"] + received["max_ms"] * 1000

    def wait_durable(self, name, receipts, children, timeout=None):
        n = self.args.n
        deadline = time.time() + (timeout or self.args.timeout_s)
        pending = list(receipts)
        last = {}
        while pending:
            r = pending[0]
            units, at = self.durable(r)
            if units >= n:
                last[r["id"]] = at
                pending.pop(0)
                continue
            if time.time() > deadline:
                raise BenchError(f"{name}: {r['id']} has {units} of {n} acks durable")
            for child in children:
                if not child.alive() and child.exit_code not in (0, None):
                    raise BenchError(f"{name}: {child.name} exited {child.exit_code}: "
                                     f"{child.stderr_tail()}")
            time.sleep(0.2)
        return last

    def kill_children(self):
        """Stops whatever this run started that still runs."""
        for child in self.children:
            if child.alive():
                child.signal(signal.SIGKILL)
                child.wait(10)
        self.children = []

    def stop_swarms(self, swarms):
        for s in swarms:
            s.signal(signal.SIGTERM)
        for s in swarms:
            if s.wait(60) is None:
                s.stop()

    def latencies(self, swarms):
        """seq -> [µs from sent to receipt] over the swarms' latency files."""
        by_seq = {}
        for s in swarms:
            path = os.path.join(self.work, s.name + ".lat")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    seq, us = line.split("\t")
                    by_seq.setdefault(int(seq), []).append(int(us))
        return by_seq

    def client_cpu_s(self, swarms):
        return round(sum(s.cpu_s() or 0 for s in swarms), 2)

    def usage(self, mark_cpu):
        return {"broker_cpu_s": round(self.broker_cpu_s() - mark_cpu, 2),
                "broker_peak_rss_kb": self.broker_hwm_kb(),
                "broker_rss_kb": self.broker_rss_kb()}

    # -- workloads ---------------------------------------------------------

    def connected_fresh(self, name, **swarm_args):
        """A fresh broker and store, and all N terminals welcomed."""
        self.start_broker(os.path.join(self.work, f"data-{name}"))
        idle_rss = self.broker_rss_kb()
        cpu0 = self.broker_cpu_s()
        swarms = self.start_swarms(name, **swarm_args)
        connect_s = self.wait_connected(name, swarms, self.args.n)
        connected_rss = self.broker_rss_kb()
        info = {"connect_s": round(connect_s, 2),
                "broker_cpu_s_connect": round(self.broker_cpu_s() - cpu0, 2),
                "broker_rss_kb_idle": idle_rss,
                "broker_rss_kb_connected": connected_rss,
                "bytes_per_connection": round((connected_rss - idle_rss) * 1024 / self.args.n)}
        log(f"{self.label} {name}: {self.args.n} terminals welcomed in {connect_s:.1f} s, "
            f"broker RSS {connected_rss / 1024:.0f} MiB")
        return swarms, info

    def deliveries(self, receipt, by_seq):
        """Per-unit latency from the publish call (t0) for one directive, in µs."""
        offset = receipt["sent_us"] - receipt["t0_us"]
        return [us + offset for us in by_seq.get(receipt["seq"], [])]

    def run_fanout(self):
        swarms, info = self.connected_fresh("fanout")
        rounds = []
        receipts = []
        for r in range(self.args.rounds):
            cpu0 = self.broker_cpu_s()
            before = self.total(swarms, "received")
            receipt = self.publish(1)[0]
            receipts.append(receipt)
            self.wait_until(lambda: self.total(swarms, "received") >= before + self.args.n,
                            self.args.timeout_s, "fanout: delivered", swarms)
            last = self.wait_durable("fanout", [receipt], swarms)
            rounds.append({"round": r + 1, "kind": "cold" if r == 0 else "warm",
                           "id": receipt["id"], "t0_us": receipt["t0_us"],
                           "publish_call_ms": ms(receipt["receipt_us"] - receipt["t0_us"]),
                           "publish_to_last_ack_durable_ms":
                               ms(last[receipt["id"]] - receipt["t0_us"]),
                           "broker_cpu_s": round(self.broker_cpu_s() - cpu0, 2)})
            log(f"{self.label} fanout round {r + 1}: last ack durable "
                f"{rounds[-1]['publish_to_last_ack_durable_ms']} ms")
            time.sleep(0.5)
        peak = self.broker_hwm_kb()
        self.stop_swarms(swarms)
        by_seq = self.latencies(swarms)
        all_warm = []
        for round_, receipt in zip(rounds, receipts):
            lat = self.deliveries(receipt, by_seq)
            round_["latency"] = common.latency_summary(lat)
            round_["publish_to_last_delivery_ms"] = ms(max(lat)) if lat else None
            round_["units_received"] = len(lat)
            if round_["kind"] == "warm":
                all_warm += lat
        with open(os.path.join(self.work, "fanout-warm-latencies-us.txt"), "w") as f:
            f.write("\n".join(str(v) for v in sorted(all_warm)) + "\n")
        info.update({"rounds": self.args.rounds, "body_bytes": self.args.bytes,
                     "per_round": rounds, "broker_peak_rss_kb": peak,
                     "warm_latencies_file": os.path.join(self.work, "fanout-warm-latencies-us.txt"),
                     "swarm_cpu_s": self.client_cpu_s(swarms)})
        self.stop_broker()
        return info

    def run_burst(self):
        swarms, info = self.connected_fresh("burst")
        cpu0 = self.broker_cpu_s()
        receipts = self.publish(self.args.burst, pipeline=True)
        last = self.wait_durable("burst", receipts, swarms)
        usage = self.usage(cpu0)
        self.stop_swarms(swarms)
        by_seq = self.latencies(swarms)
        t0 = receipts[0]["t0_us"]
        lat = []
        last_delivery = 0
        for r in receipts:
            d = self.deliveries(r, by_seq)
            lat += d
            last_delivery = max(last_delivery, max(d) + r["t0_us"] - t0 if d else 0)
        last_durable = max(last.values()) - t0
        acks = self.args.n * len(receipts)
        info.update({"directives": len(receipts), "body_bytes": self.args.bytes,
                     "publish_span_ms": ms(receipts[-1]["receipt_us"] - t0),
                     "first_publish_to_last_delivery_ms": ms(last_delivery),
                     "first_publish_to_last_ack_durable_ms": ms(last_durable),
                     "latency": common.latency_summary(lat),
                     "acks_durable": acks,
                     "durable_acks_per_s": round(acks / (last_durable / 1e6)),
                     "fsync_policy": "RocksDB WriteOptions.sync = true on one WriteBatch per "
                                     "event-loop pass (all acks received in that pass, up to "
                                     "4096 messages)",
                     **usage})
        log(f"{self.label} burst: {acks} acks durable in {ms(last_durable)} ms "
            f"({info['durable_acks_per_s']}/s)")
        self.stop_broker()
        return info

    def run_catchup(self):
        shards = 5  # one of five, 20 %, is offline
        self.start_broker(os.path.join(self.work, "data-catchup"))
        online = self.start_swarms("catchup", expect=self.args.catchup, shards=shards,
                                   only={0, 1, 2, 3})
        online_units = sum(1 for index, _ in self.units if index % shards != 4)
        self.wait_connected("catchup", online, online_units)
        receipts = self.publish(self.args.catchup)
        for s in online:
            if s.wait(self.args.timeout_s) != 0:
                raise BenchError(f"catchup: {s.name} did not complete: {s.stderr_tail()}")
        cpu0 = self.broker_cpu_s()
        back_us = now_us()
        returning = self.start_swarms("catchup-back", expect=self.args.catchup, shards=shards,
                                      only={4})
        for s in returning:
            if s.wait(self.args.timeout_s) != 0:
                raise BenchError(f"catchup: {s.name} did not complete: {s.stderr_tail()}")
        done_us = now_us()
        last = self.wait_durable("catchup", receipts, returning)
        report = returning[0].report or {}
        info = {"directives": self.args.catchup, "offline_units": self.args.n - online_units,
                "online_units": online_units,
                "reconnect_to_complete_ms": ms(done_us - back_us),
                "reconnect_to_last_ack_durable_ms": ms(max(last.values()) - back_us),
                "returning_swarm": {k: report.get(k) for k in
                                    ("units", "received", "duplicates", "reconnects", "errors")},
                **self.usage(cpu0)}
        log(f"{self.label} catchup: {info['offline_units']} units back and complete in "
            f"{info['reconnect_to_complete_ms']} ms")
        self.stop_broker()
        return info

    def run_storm(self):
        expect = 1 + self.args.storm
        data = os.path.join(self.work, "data-storm")
        swarms, info = self.connected_fresh("storm", expect=expect)
        first = self.publish(1)
        self.wait_durable("storm", first, swarms)
        hwm_before, _ = self.stop_broker(signal.SIGKILL)
        restart_us = now_us()
        listen_s = self.start_broker(data, fresh=False)
        cpu0 = self.broker_cpu_s()
        receipts = self.publish(self.args.storm, retries_s=30)
        for s in swarms:
            if s.wait(self.args.timeout_s) != 0:
                raise BenchError(f"storm: {s.name} did not complete: {s.stderr_tail()}")
        done_us = now_us()
        last = self.wait_durable("storm", receipts, swarms)
        reports = [s.report or {} for s in swarms]
        log_text = open(self.broker.stderr_path).read()
        info.update({"directives_missed": self.args.storm, "method":
                     "all N connected; flatcast-broker killed with SIGKILL and started again on "
                     "the same port and store; 10 directives published as soon as it listens",
                     "restart_to_listening_ms": round(listen_s * 1000, 1),
                     "restart_to_complete_ms": ms(done_us - restart_us),
                     "restart_to_last_ack_durable_ms": ms(max(last.values()) - restart_us),
                     "reconnects": sum(r.get("reconnects", 0) for r in reports),
                     "swarm_errors": sum(r.get("errors", 0) for r in reports),
                     "handshake_failures_logged": log_text.count("during the CURVE handshake"),
                     "broker_peak_rss_kb_before_kill": hwm_before,
                     **self.usage(cpu0)})
        log(f"{self.label} storm: every unit has all {expect} and acked "
            f"{info['restart_to_complete_ms']} ms after the restart")
        self.stop_broker()
        return info

    def run(self, workloads):
        for name in workloads:
            try:
                self.results[name] = getattr(self, "run_" + name)()
            except Exception as e:  # a failed workload must not leave processes behind
                log(f"{self.label} {name} FAILED: {e}")
                self.failures.append(f"{name}: {e}")
            finally:
                self.kill_children()
        return {"system": self.label, "curve": self.curve, "n": self.args.n,
                "work_dir": self.work, "workloads": self.results,
                "failures": self.failures, "ok": not self.failures}

    def cleanup(self):
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def add_arguments(p):
    p.add_argument("--region", default="52",
                   help="the terminals are the units below this code (52: all 19,571 of Guizhou)")
    p.add_argument("--rounds", type=int, default=6, help="fan-out rounds (1 cold, then warm)")
    p.add_argument("--burst", type=int, default=20)
    p.add_argument("--catchup", type=int, default=10)
    p.add_argument("--storm", type=int, default=10)
    p.add_argument("--bytes", type=int, default=4096, help="directive body size")
    p.add_argument("--terminals-per-process", type=int, default=6600)
    p.add_argument("--timeout-s", type=int, default=300)
    p.add_argument("--registry", default=os.path.join(REPO, "configs/registry/guizhou-52.tsv"))
    p.add_argument("--bin-dir", default=os.path.join(REPO, "build/bin"))
    p.add_argument("--work-root", default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--broker-arg", action="append", default=[],
                   help="an extra flatcast-broker argument, e.g. --broker-arg=--io-threads=1")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    p.add_argument("--no-curve", action="store_true")
    p.add_argument("--out", help="write the JSON here")
    args = p.parse_args()
    bench = Flatcast(args, curve=not args.no_curve,
                     label="flatcast" + ("" if not args.no_curve else "-nocurve"))
    try:
        result = bench.run(args.workloads.split(","))
    finally:
        bench.cleanup()
    result["machine"] = f"{platform.node()} {os.cpu_count()} CPUs"
    return write_result(result, args.out)


def write_result(result, out):
    """Prints the result as JSON, and writes it to `out` when given; the exit code."""
    text = json.dumps(result, indent=2)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
