#!/usr/bin/env python3
"""The cost of one relay hop (docs/BENCHMARKS.md, docs/RELAY.md).

Real processes only, every connection CURVE unless --no-curve. In one run,
alternately:

  direct  N terminals on one broker; fan-out rounds and a burst of 20
          published to it (bench/flatcast_bench.py)
  relay   the same N terminals on a relay for --relay-region under an upstream
          broker; published to the upstream, and measured where the figure is
          asked for: every RECEIVED acknowledgement durable at the upstream,
          after the relay stored the version synced, fanned it out, stored
          the acknowledgements and sent them up in batches the upstream stored

  python3 bench/relay_bench.py [--repeat 3] [--out-dir build/bench-relay] [--smoke]

--smoke: a few hundred terminals, each part once; fails unless everything
completes (ctest runs it). Standard library only.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import flatcast_bench  # noqa: E402
from flatcast_bench import BenchError, common, log  # noqa: E402

REPO = flatcast_bench.REPO


class Relayed(flatcast_bench.Flatcast):
    """flatcast_bench's workloads with the terminals on a relay: start_broker
    starts the upstream and the relay, the swarms connect to the relay,
    publish and audit go to the upstream."""

    def make_keys(self):
        super().make_keys()
        k = lambda name: os.path.join(self.keys, name)  # noqa: E731
        self.keys_cli("generate", "--kind", "curve", "--out", k("relay"))
        self.keys_cli("register", "--registry", k("registry.toml"), "--name",
                      "relay-" + self.args.relay_region, "--role", "relay", "--subject",
                      self.args.relay_region, "--curve-pub", k("relay.pub"))

    def start_broker(self, data_dir, fresh=True):
        started = time.time()
        super().start_broker(data_dir, fresh)  # the upstream
        self.upstream = self.broker
        self.upstream_endpoint = self.endpoint
        self.endpoint = self.new_endpoint()
        endpoint_file = os.path.join(self.work, "relay-endpoint")
        if os.path.exists(endpoint_file):
            os.remove(endpoint_file)
        argv = [os.path.join(self.bin, "flatcast-broker"), "--data-dir", data_dir + "-relay",
                "--registry", self.args.registry, "--endpoint", self.endpoint,
                "--endpoint-file", endpoint_file,
                "--keys", os.path.join(self.keys, "registry.toml"),
                "--relay-region", self.args.relay_region, "--upstream", self.upstream_endpoint,
                *self.args.broker_arg]
        if fresh:
            argv.append("--init")
        if self.curve:
            argv += ["--curve-key", os.path.join(self.keys, "broker.key"),
                     "--relay-key", os.path.join(self.keys, "relay.key"),
                     "--upstream-key", os.path.join(self.keys, "broker.pub")]
        self.runs += 1
        self.relay = common.Child(f"relay-{self.runs}", argv, self.work)
        self.children.append(self.relay)
        self.broker = self.relay  # the terminals' broker: its memory is the per-terminal cost
        deadline = time.time() + 120
        while not self.welcomed():
            if not self.relay.alive():
                raise BenchError(f"relay exited at start: {self.relay.stderr_tail()}")
            if time.time() > deadline:
                raise BenchError(f"relay not welcomed upstream: {self.relay.stderr_tail()}")
            time.sleep(0.1)
        return time.time() - started

    def welcomed(self):
        if not os.path.exists(os.path.join(self.work, "relay-endpoint")):
            return False
        argv = [os.path.join(self.bin, "flatcast-audit"), "--broker", self.endpoint,
                *self.client_security(), "--timeout-ms", "1000", "cluster", "--format", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        try:
            return bool(json.loads(done.stdout)[0].get("upstream", {}).get("welcomed"))
        except (ValueError, IndexError):
            return False

    def broker_cpu_s(self):
        """Both brokers' CPU: the hop's price."""
        return sum(common.proc_cpu_s(c.pid) or 0 for c in (self.upstream, self.relay)
                   if c.alive())

    def stop_broker(self, sig=signal.SIGTERM):
        hwm, cpu = self.broker_hwm_kb(), self.broker_cpu_s()
        for c in (self.relay, self.upstream):
            if c.alive():
                c.signal(sig)
        for c in (self.relay, self.upstream):
            c.wait(60)
        return hwm, cpu

    def upstream_side(self, method, *argv, **kwargs):
        saved = self.endpoint
        self.endpoint = self.upstream_endpoint
        try:
            return method(*argv, **kwargs)
        finally:
            self.endpoint = saved

    def publish(self, count, retries_s=0, pipeline=False):
        return self.upstream_side(super().publish, count, retries_s, pipeline)

    def audit(self, *argv):
        return self.upstream_side(super().audit, *argv)


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    flatcast_bench.add_arguments(p)
    p.set_defaults(terminals_per_process=6600, rounds=6)
    p.add_argument("--relay-region", default="52",
                   help="the relay's region (default: all of Guizhou, a province relay)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--parts", default="direct,relay")
    p.add_argument("--workloads", default="fanout,burst")
    p.add_argument("--no-curve", action="store_true")
    p.add_argument("--out-dir", default=os.path.join(REPO, "build", "bench-relay"))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.region, args.relay_region, args.rounds, args.timeout_s, args.repeat = (
            "520102", "5201", 2, 120, 1)
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.time()
    runs, failures = [], []
    for repeat in range(args.repeat):
        log(f"== run {repeat + 1} of {args.repeat}")
        run = {}
        for part in args.parts.split(","):
            if part == "direct":
                bench = flatcast_bench.Flatcast(args, curve=not args.no_curve, label="direct")
            elif part == "relay":
                bench = Relayed(args, curve=not args.no_curve, label="relay")
            else:
                raise SystemExit(f"unknown part {part}")
            try:
                run[part] = bench.run(args.workloads.split(","))
            finally:
                bench.cleanup()
            failures += [f"run {repeat + 1} {part}: {f}" for f in run[part]["failures"]]
        runs.append(run)

    def fig(part, workload, pick):
        values = []
        for run in runs:
            w = run.get(part, {}).get("workloads", {}).get(workload)
            if w:
                values.append(pick(w))
        return median(values), values

    def warm_round(key):
        return lambda w: median([r.get(key) for r in w["per_round"] if r["kind"] == "warm"])

    rows = []
    for label, workload, pick in (
            ("fan-out: publish → last delivery, warm median (ms)", "fanout",
             warm_round("publish_to_last_delivery_ms")),
            ("fan-out: publish → last RECEIVED ack durable where published, warm median (ms)",
             "fanout", warm_round("publish_to_last_ack_durable_ms")),
            ("fan-out: broker CPU per round, all brokers (s)", "fanout",
             warm_round("broker_cpu_s")),
            ("burst of 20: first publish → last ack durable where published (ms)", "burst",
             lambda w: w["first_publish_to_last_ack_durable_ms"]),
            ("burst of 20: acks/s made durable where published", "burst",
             lambda w: w["durable_acks_per_s"])):
        direct, d_all = fig("direct", workload, pick)
        relay, r_all = fig("relay", workload, pick)
        ratio = ((relay / direct if "acks/s" not in label else direct / relay)
                 if direct and relay else None)
        rows.append({"figure": label, "direct": direct, "relay": relay, "direct_runs": d_all,
                     "relay_runs": r_all, "hop_cost": round(ratio, 2) if ratio else None})
    n = len(flatcast_bench.read_units(args.registry, args.region))
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv),
              "n": n, "curve": not args.no_curve, "relay_region": args.relay_region,
              "runs": runs, "hop_cost": rows, "failures": failures,
              "elapsed_s": round(time.time() - started, 1)}
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"N = {n}, {'CURVE' if not args.no_curve else 'no CURVE'}, relay for "
             f"{args.relay_region}, medians of {args.repeat} run(s), {result['date']}", "",
             "| figure | direct broker | through a relay | relay ÷ direct |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['figure']} | {r['direct']} ({r['direct_runs']}) | {r['relay']} "
                     f"({r['relay_runs']}) | {r['hop_cost']} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(text)
    print(text)
    for failure in failures:
        print("FAILED " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
