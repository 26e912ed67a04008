#!/usr/bin/env python3
"""The broker pair's benchmark (docs/BENCHMARKS.md, docs/HA.md).

Real processes only: one etcd (one member, ephemeral ports, a temporary data
directory), brokers a and b led through it (replication "sync", lease TTL 5 s
unless --broker-arg says otherwise), N terminals in flatcast-swarm processes,
every connection CURVE unless --no-curve. In one run, alternately:

  single   fan-out rounds and a burst of 20 on one broker (bench/flatcast_bench.py)
  pair     the same on the pair, published to the leader: the price of
           synchronous replication beside the single broker
  failover the leader killed (SIGKILL) right after a receipt, in the middle of
           that directive's fan-out, and started again (as systemd's
           Restart=always would) once the other broker took the key; a second directive published through
           flatcast-publisher with both endpoints from the moment of the kill.
           Measured from the kill: the second directive's receipt (from the new
           leader, its standby in sync), every terminal welcomed again, every
           unit holding it, every unit's RECEIVED durable. Reconciled: every
           unit holds the two and a third published afterwards exactly once.
           Once with warm standby connections (each terminal also keeps an
           authenticated connection to the other broker) and once without.

  python3 bench/pair_bench.py [--repeat 3] [--out-dir build/bench-pair] [--smoke]

--smoke: a few hundred terminals, every part once; fails unless everything
reconciles (ctest runs it). Standard library only.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import flatcast_bench  # noqa: E402
from flatcast_bench import BenchError, common, log, ms, now_us  # noqa: E402

REPO = flatcast_bench.REPO


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """A real one-member etcd on ephemeral loopback ports."""

    def __init__(self, work):
        self.dir = os.path.join(work, "etcd")
        client, peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{client}"
        argv = ["etcd", "--name", "bench", "--data-dir", self.dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"bench=http://127.0.0.1:{peer}"]
        if not shutil.which("etcd"):
            raise BenchError("etcd not found (scripts/setup.sh installs etcd-server)")
        self.child = common.Child("etcd", argv, work)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                pass
            if not self.child.alive() or time.time() > deadline:
                raise BenchError(f"etcd did not start: {self.child.stderr_tail()}")
            time.sleep(0.1)

    def stop(self):
        if self.child.alive():
            self.child.signal(signal.SIGTERM)
            self.child.wait(10)


class Pair(flatcast_bench.Flatcast):
    """flatcast_bench's workloads on a broker pair: start_broker starts both
    (a leads, b follows), publish goes to the leader, audit asks both."""

    def __init__(self, args, curve=True, label="pair", warm=True):
        self.warm = warm
        self.members = {}  # name -> {"child", "endpoint", "replication", "data"}
        self.groups = 0
        super().__init__(args, curve=curve, label=label)
        self.etcd = Etcd(self.work)

    def make_keys(self):
        super().make_keys()
        # The pair shares the broker key, registered with the broker role (docs/HA.md).
        self.keys_cli("register", "--registry", os.path.join(self.keys, "registry.toml"),
                      "--name", "pair", "--role", "broker", "--subject", "52",
                      "--curve-pub", os.path.join(self.keys, "broker.pub"))

    # -- the pair ------------------------------------------------------------

    def start_member(self, name, fresh):
        m = self.members[name]
        argv = [os.path.join(self.bin, "flatcast-broker"), "--data-dir", m["data"],
                "--registry", self.args.registry, "--endpoint", m["endpoint"],
                "--publishers", os.path.join(REPO, "configs", "publishers.toml"),
                "--keys", os.path.join(self.keys, "registry.toml"),
                "--etcd", self.etcd.url, "--pair-group", self.group, "--pair-name", name,
                "--replication-endpoint", m["replication"], *self.args.broker_arg]
        if fresh:
            argv.append("--init")
        if self.curve:
            argv += ["--curve-key", os.path.join(self.keys, "broker.key")]
        self.runs += 1
        m["child"] = common.Child(f"broker-{name}-{self.runs}", argv, self.work)
        self.children.append(m["child"])
        return m["child"]

    def cluster(self, endpoint=None):
        """flatcast-audit cluster over both endpoints (or one): its JSON rows."""
        argv = [os.path.join(self.bin, "flatcast-audit"), "--broker", endpoint or self.endpoint,
                *(self.client_security()), "--timeout-ms", "1000", "cluster", "--format", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        try:
            return json.loads(done.stdout)
        except ValueError:
            return []

    def leader_in_sync(self, caught_up=False):
        """The name of the broker that leads with its standby in sync (and, with
        `caught_up`, no lag), else None."""
        for row in self.cluster():
            if row.get("role") == "leader" and row.get("in_sync"):
                if caught_up and row.get("commit_seq") != row.get("standby_commit_seq"):
                    continue
                return row.get("broker")
        return None

    def wait_leader_in_sync(self, what, timeout=120, caught_up=False):
        deadline = time.time() + timeout
        while True:
            leader = self.leader_in_sync(caught_up)
            if leader:
                return leader
            for m in self.members.values():
                c = m.get("child")
                if c and not c.alive():
                    raise BenchError(f"{what}: {c.name} exited {c.exit_code}: {c.stderr_tail()}")
            if time.time() > deadline:
                raise BenchError(f"{what}: no leader with its standby in sync after {timeout} s")
            time.sleep(0.2)

    def set_leader(self, name):
        other = "b" if name == "a" else "a"
        self.broker = self.members[name]["child"]
        self.standby = self.members[other]["child"]
        self.leader_endpoint = self.members[name]["endpoint"]

    def start_broker(self, data_dir, fresh=True):
        """Both brokers of a new group on fresh stores; a leads."""
        started = time.time()
        self.groups += 1
        self.group = f"bench{self.groups}"
        self.members = {}
        for name in ("a", "b"):
            self.members[name] = {"endpoint": self.new_endpoint(),
                                  "replication": self.new_endpoint(),
                                  "data": f"{data_dir}-{name}"}
        self.endpoint = ",".join(self.members[n]["endpoint"] for n in ("a", "b"))
        a = self.start_member("a", fresh)
        deadline = time.time() + 60
        while "leads group" not in open(a.stderr_path).read():
            if not a.alive() or time.time() > deadline:
                raise BenchError(f"broker a did not lead: {a.stderr_tail()}")
            time.sleep(0.05)
        self.start_member("b", fresh)
        self.set_leader(self.wait_leader_in_sync("pair start"))
        return time.time() - started

    def broker_cpu_s(self):
        """Both brokers' CPU: the pair's price."""
        return sum(common.proc_cpu_s(m["child"].pid) or 0 for m in self.members.values()
                   if m.get("child") and m["child"].alive())

    def broker_hwm_kb(self):
        return common.proc_status_kb(self.broker.pid, "VmHWM")

    def stop_broker(self, sig=signal.SIGTERM):
        hwm, cpu = self.broker_hwm_kb(), self.broker_cpu_s()
        for m in self.members.values():
            if m["child"].alive():
                m["child"].signal(sig)
        for m in self.members.values():
            m["child"].wait(60)
        return hwm, cpu

    def publish(self, count, retries_s=0, pipeline=False):
        saved = self.endpoint
        self.endpoint = self.leader_endpoint  # flatcast-bench-publish takes one endpoint
        try:
            return super().publish(count, retries_s, pipeline)
        finally:
            self.endpoint = saved

    def connected_fresh(self, name, **swarm_args):
        """As for one broker, then also every warm connection up and the standby caught up,
        so the figures are the pair's steady state (not the standby's handshakes)."""
        swarms, info = super().connected_fresh(name, **swarm_args)
        if self.warm:
            started = time.time()
            self.wait_until(lambda: self.total(swarms, "warm") >= self.args.n,
                            self.args.timeout_s, f"{name}: every warm connection up", swarms)
            info["warm_connect_s"] = round(time.time() - started, 2)
            log(f"{self.label} {name}: {self.args.n} warm connections up in "
                f"{info['warm_connect_s']} s more")
        self.wait_leader_in_sync(name, caught_up=True)
        return swarms, info

    def swarm_args(self):
        return ["--progress-interval-ms", "100"] + ([] if self.warm else ["--no-warm-standby"])

    # -- the failover ----------------------------------------------------------

    def directive_file(self):
        path = os.path.join(self.work, "after-kill.toml")
        body = ("发布于主代理被终止之后的测试通知。" * 200)[: self.args.bytes // 3]
        with open(path, "w") as f:
            f.write(f'issuer_unit = "52"\nissuer_department = "HEALTH"\n'
                    f'title = "切换后的通知"\nbody = """\n{body}\n"""\nstatus = "EXERCISE"\n'
                    f'scope = ["{self.args.region}"]\n'
                    f'target_tiers = ["CITY", "DISTRICT", "STREET", "COMMUNITY"]\n'
                    f'[[actions]]\nwhat = "确认收到"\nresponsible_tier = "COMMUNITY"\n')
        return path

    def publisher_cli(self, directive):
        argv = [os.path.join(self.bin, "flatcast-publisher"), "--broker", self.endpoint,
                "--publisher", "guizhou-health", "--json", "--attempts", "100",
                "--timeout-ms", "1000", *self.client_security(),
                "--signing-key", os.path.join(self.keys, "publisher-sign.key"),
                "publish", "--file", directive]
        return argv

    def run_failover(self):
        name = "failover-warm" if self.warm else "failover-cold"
        n = self.args.n
        # A third directive, published once every terminal is welcomed again, ends
        # the swarms: until then they run, and "every terminal welcomed" is seen.
        swarms, info = self.connected_fresh(name, expect=3)
        directive = self.directive_file()
        killed = [k for k, m in self.members.items() if m["child"] is self.broker][0]
        first = self.publish(1)[0]  # a receipt: on both stores
        kill_us = now_us()
        self.broker.signal(signal.SIGKILL)
        self.broker.wait(10)
        publisher = subprocess.Popen(self.publisher_cli(directive), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        # The killed broker comes back (as Restart=always would) once the other
        # took the key, so the terminals must move: restarted at once, it may
        # win the key itself, and its terminals only reconnect to it.
        other = "b" if killed == "a" else "a"
        deadline = time.time() + 60
        while not any(r.get("role") == "leader"
                      for r in self.cluster(self.members[other]["endpoint"])):
            if time.time() > deadline:
                raise BenchError(f"{name}: {other} did not take the key")
            time.sleep(0.05)
        took_us = now_us()
        restarted = self.start_member(killed, fresh=False)
        # Every terminal welcomed again (by the new leader: a standby welcomes none).
        served_us = None
        dropped = False
        receipt_us = None
        deadline = time.time() + self.args.timeout_s
        while served_us is None or receipt_us is None:
            if receipt_us is None and publisher.poll() is not None:
                receipt_us = now_us()
            # A swarm that completed has exited: its summary has the last count.
            welcomed = sum(int((s.report or s.progress).get("welcomed", 0)) for s in swarms)
            if welcomed < n:
                dropped = True
            elif dropped and served_us is None:
                served_us = now_us()
            if time.time() > deadline:
                raise BenchError(f"{name}: {welcomed} of {n} welcomed again, publisher "
                                 f"{'done' if receipt_us else 'still waiting'}")
            if not restarted.alive():
                raise BenchError(f"{name}: restarted broker exited: {restarted.stderr_tail()}")
            time.sleep(0.02)
        out, err = publisher.communicate()
        if publisher.returncode != 0:
            raise BenchError(f"{name}: publish after the kill failed: {err.strip()}")
        second = json.loads(out)
        second_sent_us = flatcast_bench.parse_time_us(second["sent"])
        self.wait_until(lambda: self.total(swarms, "confirmed") >= 2 * n, self.args.timeout_s,
                        f"{name}: both directives acknowledged", swarms)
        complete_us = now_us()
        leader = self.wait_leader_in_sync(name, caught_up=True)
        self.set_leader(leader)
        both_us = now_us()
        third = self.publish(1)[0]
        for s in swarms:
            if s.wait(self.args.timeout_s) != 0:
                raise BenchError(f"{name}: {s.name} did not complete: {s.stderr_tail()}")
        rows = self.audit("latency", second["id"])["rows"]
        received = rows[0]
        if received["units"] < n:
            raise BenchError(f"{name}: {received['units']} of {n} RECEIVED durable")
        durable_us = second_sent_us + received["max_ms"] * 1000
        first_units, _ = self.durable(first)
        third_units, _ = self.durable(third)
        by_seq = self.latencies(swarms)
        lat = by_seq.get(second["seq"], [])
        if len(lat) != n:
            raise BenchError(f"{name}: {len(lat)} of {n} units hold the second directive")
        reports = [s.report or {} for s in swarms]
        exact = sum(r.get("units_complete") or 0 for r in reports)
        dups = sum(r.get("duplicates", 0) for r in reports)
        info.update({
            "warm_standby": self.warm,
            "killed": killed, "new_leader": leader,
            "kill_to_new_leader_ms": ms(took_us - kill_us),
            "kill_to_receipt_ms": ms(receipt_us - kill_us),
            "kill_to_every_terminal_welcomed_ms": ms(served_us - kill_us),
            "kill_to_every_unit_has_it_ms": ms(second_sent_us + max(lat) - kill_us),
            "kill_to_every_ack_durable_ms": ms(durable_us - kill_us),
            "kill_to_both_acknowledged_ms": ms(complete_us - kill_us),
            "kill_to_standby_caught_up_seen_ms": ms(both_us - kill_us),
            "first_directive_received_durable": first_units,
            "units_exactly_all_three": exact, "duplicate_deliveries": dups,
            "switches": sum(r.get("switches", 0) for r in reports),
            "reconnects": sum(r.get("reconnects", 0) for r in reports),
        })
        if first_units < n or third_units < n or exact != n:
            raise BenchError(f"{name}: lost: first {first_units}/{n} durable, third "
                             f"{third_units}/{n}, {exact}/{n} hold exactly all three")
        log(f"{self.label} {name}: kill → receipt {info['kill_to_receipt_ms']} ms, every terminal "
            f"welcomed {info['kill_to_every_terminal_welcomed_ms']} ms, every unit has it "
            f"{info['kill_to_every_unit_has_it_ms']} ms, every ack durable "
            f"{info['kill_to_every_ack_durable_ms']} ms (new leader {leader})")
        self.stop_broker()
        return info

    def cleanup(self):
        self.etcd.stop()
        super().cleanup()


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    flatcast_bench.add_arguments(p)
    p.set_defaults(terminals_per_process=4000, rounds=6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--parts", default="single,pair,failover-warm,failover-cold")
    p.add_argument("--workloads", default="fanout,burst",
                   help="what the single and pair parts run: fanout, burst")
    p.add_argument("--no-curve", action="store_true")
    p.add_argument("--out-dir", default=os.path.join(REPO, "build", "bench-pair"))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.region, args.rounds, args.timeout_s, args.repeat = "520102", 2, 120, 1
    os.makedirs(args.out_dir, exist_ok=True)
    parts = args.parts.split(",")
    started = time.time()
    runs = []
    failures = []
    for repeat in range(args.repeat):
        log(f"== run {repeat + 1} of {args.repeat}")
        run = {}
        for part in parts:
            if part == "single":
                bench = flatcast_bench.Flatcast(args, curve=not args.no_curve, label="single")
                workloads = args.workloads.split(",")
            elif part == "pair":
                bench = Pair(args, curve=not args.no_curve, label="pair")
                workloads = args.workloads.split(",")
            elif part in ("failover-warm", "failover-cold"):
                bench = Pair(args, curve=not args.no_curve, label=part,
                             warm=part == "failover-warm")
                workloads = ["failover"]
            else:
                raise SystemExit(f"unknown part {part}")
            try:
                run[part] = bench.run(workloads)
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
            ("fan-out: publish → last ack durable, warm median (ms)", "fanout",
             warm_round("publish_to_last_ack_durable_ms")),
            ("fan-out: broker CPU per round, both brokers (s)", "fanout", warm_round("broker_cpu_s")),
            ("burst of 20: first publish → last ack durable (ms)", "burst",
             lambda w: w["first_publish_to_last_ack_durable_ms"]),
            ("burst of 20: durable acks/s", "burst", lambda w: w["durable_acks_per_s"])):
        single, s_all = fig("single", workload, pick)
        pair, p_all = fig("pair", workload, pick)
        ratio = (pair / single if "acks/s" not in label else single / pair) if single and pair else None
        rows.append({"figure": label, "single": single, "pair": pair, "single_runs": s_all,
                     "pair_runs": p_all, "pair_cost": round(ratio, 2) if ratio else None})
    failover = []
    for key in ("kill_to_new_leader_ms", "kill_to_receipt_ms", "kill_to_every_terminal_welcomed_ms",
                "kill_to_every_unit_has_it_ms", "kill_to_every_ack_durable_ms",
                "kill_to_standby_caught_up_seen_ms"):
        row = {"figure": key}
        for part in ("failover-warm", "failover-cold"):
            row[part], row[part + "_runs"] = fig(part, "failover", lambda w: w[key])
        failover.append(row)
    n = len(flatcast_bench.read_units(args.registry, args.region))
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv),
              "n": n, "curve": not args.no_curve, "runs": runs, "replication_cost": rows,
              "failover": failover, "failures": failures,
              "elapsed_s": round(time.time() - started, 1)}
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"N = {n}, {'CURVE' if not args.no_curve else 'no CURVE'}, medians of "
             f"{args.repeat} run(s), {result['date']}", "",
             "| figure | single broker | pair | pair ÷ single |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['figure']} | {r['single']} ({r['single_runs']}) | {r['pair']} "
                     f"({r['pair_runs']}) | {r['pair_cost']} |")
    lines += ["", "| from the kill to (ms) | warm standby connections | cold reconnect |",
              "|---|---|---|"]
    for r in failover:
        lines.append(f"| {r['figure']} | {r['failover-warm']} ({r['failover-warm_runs']}) | "
                     f"{r['failover-cold']} ({r['failover-cold_runs']}) |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(text)
    print(text)
    for failure in failures:
        print("FAILED " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
