#!/usr/bin/env python3
"""Mosquitto side of the flatcast comparison (bench/mqtt/README.md).

Starts a real Mosquitto 2.0 broker with a configuration written into a temp
directory, the ack collector, the unit swarm (spread over processes so each
stays well under the open-file limit) and the publisher, runs the workloads
and prints JSON and a table. Standard library only.

Workloads (each gives JSON):
  fanout        one 4 KiB directive to all N units, R rounds (1 cold, then warm)
  burst         20 directives back to back to all N units
  catchup       20 % of the units offline while 10 directives are published,
                then they come back
  storm         the broker is stopped with SIGTERM (it saves its store) and
                started again while all N units are connected; 10 directives
                are published as soon as it listens; all N reconnect at once
  storm-queued  all N units offline, 10 directives queued for them, broker
                SIGTERM + restart, then all N reconnect at once and catch up
  kill9         as storm-queued but the broker is killed with SIGKILL: shows
                what Mosquitto's periodic persistence loses
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
import threading
import time

ALL_WORKLOADS = ["fanout", "burst", "catchup", "storm", "storm-queued", "kill9"]
TOPIC = "directive/52"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
DESCRIPTORS_PER_CLIENT = 3  # TCP socket + libmosquitto's socketpair (client_pool.h)


class BenchError(Exception):
    pass


def now_us():
    return int(time.time() * 1e6)


def ms(us):
    return round(us / 1000.0, 1)


def log(message):
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_address(i):
    """The i-th address of 127.1.1.1 .. 127.250.250.250 (all on the loopback interface)."""
    i %= 250 ** 3
    return f"127.{i // 62500 + 1}.{(i // 250) % 250 + 1}.{i % 250 + 1}"


def percentile(sorted_values, p):
    """Nearest rank, as the C++ tools (stats.cc)."""
    if not sorted_values:
        return 0
    rank = max(1, min(len(sorted_values), -(-len(sorted_values) * p // 100)))
    return sorted_values[int(rank) - 1]


def latency_summary(values_us):
    values = sorted(values_us)
    return {
        "count": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1]) if values else 0,
    }


# --------------------------------------------------------------------------
# Processes


class Child:
    """A child process whose stdout carries JSON lines ({"event": ...})."""

    def __init__(self, name, argv, log_dir):
        self.name = name
        self.argv = argv
        self.stderr_path = os.path.join(log_dir, name + ".stderr")
        self.stderr = open(self.stderr_path, "w")
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                      text=True, bufsize=1)
        self.pid = self.popen.pid
        self.started_us = now_us()
        self.progress = {}
        self.report = None
        self.lines = []
        self.exit_code = None
        self.rusage = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.popen.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            event = obj.get("event") if isinstance(obj, dict) else None
            if event == "progress":
                self.progress = obj
            elif event == "report":
                self.report = obj
            else:
                self.lines.append(obj)

    def alive(self):
        return self.exit_code is None and self._reap(block=False) is None

    def _reap(self, block):
        if self.exit_code is not None:
            return self.exit_code
        try:
            pid, status, rusage = os.wait4(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.exit_code = self.popen.returncode if self.popen.returncode is not None else -1
            return self.exit_code
        if pid == 0:
            return None
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.exit_code  # reaped here: Popen must not wait again
        self.rusage = rusage
        return self.exit_code

    def wait(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            code = self._reap(block=False)
            if code is not None:
                self.thread.join(timeout=5)
                return code
            time.sleep(0.02)
        return None

    def cpu_s(self):
        if self.rusage is not None:
            return self.rusage.ru_utime + self.rusage.ru_stime
        return proc_cpu_s(self.pid)

    def signal(self, sig):
        if self.exit_code is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10):
        self.signal(signal.SIGTERM)
        if self.wait(timeout) is None:
            self.signal(signal.SIGKILL)
            self.wait(10)

    def stderr_tail(self, lines=5):
        self.stderr.flush()
        try:
            with open(self.stderr_path) as f:
                return "".join(f.readlines()[-lines:]).strip()
        except OSError:
            return ""


def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def machine_busy_s():
    """CPU seconds spent by the whole machine (all processes, kernel included)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        return (user + nice + system + irq + softirq + steal) / CLK_TCK
    except (OSError, ValueError):
        return 0.0


def self_cpu_s():
    usage = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


class Broker:
    """One mosquitto process at a time on a fixed port and store."""

    def __init__(self, work_dir, port, max_inflight, max_queued, allow_duplicates, binary):
        self.work_dir = work_dir
        self.port = port
        self.binary = binary
        self.store_dir = os.path.join(work_dir, "store")
        os.makedirs(self.store_dir, exist_ok=True)
        self.conf_path = os.path.join(work_dir, "mosquitto.conf")
        self.config = "\n".join([
            f"listener {port} 127.0.0.1",
            "max_connections -1",
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "persistence true",
            f"persistence_location {self.store_dir}/",
            "persistence_file mosquitto.db",
            "autosave_interval 1800",
            "autosave_on_changes false",
            f"max_queued_messages {max_queued}",
            "max_queued_bytes 0",
            f"max_inflight_messages {max_inflight}",
            # 2.0.11 defaults to false: it then checks every message against the
            # list of clients it was already sent to, O(N) per recipient and
            # O(N^2) per directive fanned out to N units (src/database.c).
            f"allow_duplicate_messages {'true' if allow_duplicates else 'false'}",
            "user root" if os.geteuid() == 0 else "",
            "connection_messages false",
            f"log_dest file {work_dir}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ])
        with open(self.conf_path, "w") as f:
            f.write(self.config)
        self.child = None
        self.generation = 0

    def start(self, timeout=120):
        self.generation += 1
        self.child = Child(f"mosquitto-{self.generation}", [self.binary, "-c", self.conf_path],
                           self.work_dir)
        started = time.time()
        while time.time() - started < timeout:
            if not self.child.alive():
                raise BenchError(f"mosquitto exited at start: {self.child.stderr_tail()} "
                                 f"(see {self.work_dir}/mosquitto.log)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return time.time() - started
            except OSError:
                time.sleep(0.01)
        raise BenchError("mosquitto did not listen in time")

    @property
    def pid(self):
        return self.child.pid

    def rss_kb(self):
        return proc_status_kb(self.pid, "VmRSS")

    def hwm_kb(self):
        return proc_status_kb(self.pid, "VmHWM")

    def reset_hwm(self):
        # "5" resets the peak RSS (VmHWM) to the current RSS (proc(5)).
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def cpu_s(self):
        return self.child.cpu_s()

    def stop(self, sig=signal.SIGTERM, timeout=300):
        """Signals the broker and waits; returns (seconds to exit, last VmHWM, lifetime CPU)."""
        hwm = self.hwm_kb()
        t0 = time.time()
        self.child.signal(sig)
        while self.child.alive():
            sample = self.hwm_kb()
            if sample:
                hwm = max(hwm or 0, sample)
            if time.time() - t0 > timeout:
                self.child.signal(signal.SIGKILL)
                self.child.wait(10)
                raise BenchError("mosquitto did not stop in time")
            time.sleep(0.005)
        return time.time() - t0, hwm, self.child.cpu_s()

    def store_bytes(self):
        path = os.path.join(self.store_dir, "mosquitto.db")
        return os.path.getsize(path) if os.path.exists(path) else 0


# --------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin_dir = args.bin_dir
        for program in ("flatcast-mqtt-swarm", "flatcast-mqtt-collector", "flatcast-mqtt-publish"):
            if not os.access(os.path.join(self.bin_dir, program), os.X_OK):
                raise BenchError(f"{program} not found in {self.bin_dir} (build it first)")
        self.work_dir = tempfile.mkdtemp(prefix="mqtt-bench-", dir=args.work_root)
        self.port = free_port()
        self.broker = Broker(self.work_dir, self.port, args.max_inflight, args.max_queued,
                             args.allow_duplicate_messages == "true", args.mosquitto)
        self.units = self._read_units()
        self.failures = []
        self.results = {}
        self.first_connected_rss_kb = None
        self.timeout = args.timeout_s
        # Each swarm process connects from a loopback address of its own, so that no
        # process meets the TIME_WAIT ports an earlier one left (client_pool.h).
        self.next_address = random.randrange(250 ** 3)

    def _read_units(self):
        codes = []
        with open(self.args.registry) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                code, tier = line.split("\t")[:2]
                if tier != "province":
                    codes.append(code)
        if self.args.n > len(codes):
            raise BenchError(f"--n {self.args.n}: the registry has {len(codes)} units below "
                             "the province")
        return codes[:self.args.n]

    @property
    def n(self):
        return len(self.units)

    def processes_for(self, count):
        return max(1, -(-count // self.args.clients_per_process))

    def connect_window(self):
        """Mosquitto listens with a backlog of 100 (src/net.c); more handshakes in flight
        overflow the accept queue and the kernel drops SYNs (1 s retransmit). The catch-up
        runs one process more than N needs, hence the + 1."""
        if self.args.connect_window > 0:
            return self.args.connect_window
        return max(1, 96 // (self.processes_for(self.n) + 1))

    # -- children --------------------------------------------------------

    def common(self):
        return ["--host", "127.0.0.1", "--port", str(self.port)]

    def start_collector(self, name, prefix, directives):
        argv = [os.path.join(self.bin_dir, "flatcast-mqtt-collector"), *self.common(),
                "--ack-file", os.path.join(self.work_dir, f"acks-{name}.tsv"),
                "--prefix", prefix, "--expect-acks", str(self.n),
                "--directives", str(directives), "--timeout-s", str(self.timeout * 3),
                "--report", os.path.join(self.work_dir, f"{name}-collector.json"),
                "--progress-ms", "200",
                # the collector stands in for flatcast's broker-side ack store:
                # it comes back quickly after a broker restart
                "--reconnect-initial-ms", "50", "--reconnect-max-ms", "500"]
        collector = Child(f"{name}-collector", argv, self.work_dir)
        self.wait_until(lambda: collector.progress.get("subscribed"), 30,
                        f"{name}: collector subscribed", [collector])
        return collector

    def start_swarms(self, name, prefix, expect, selection=(), count=None, tag="swarm"):
        """Starts the processes playing `count` units (default N) with extra selection args."""
        count = self.n if count is None else count
        shards = self.processes_for(count)
        swarms = []
        for shard in range(shards):
            label = f"{name}-{tag}-{shard}"
            self.next_address += 1
            argv = [os.path.join(self.bin_dir, "flatcast-mqtt-swarm"), *self.common(),
                    "--bind-address", loopback_address(self.next_address),
                    "--registry", self.args.registry, "--first", str(self.n), *selection,
                    "--shard", str(shard), "--shards", str(shards),
                    "--topic", TOPIC, "--prefix", prefix, "--expect", str(expect),
                    "--timeout-s", str(self.timeout * 3),
                    "--connect-window", str(self.connect_window()),
                    "--report", os.path.join(self.work_dir, label + ".json"),
                    "--latencies", os.path.join(self.work_dir, label + ".lat"),
                    "--progress-ms", "200"]
            swarms.append(Child(label, argv, self.work_dir))
        return swarms

    def publish(self, prefix, start, count):
        argv = [os.path.join(self.bin_dir, "flatcast-mqtt-publish"), *self.common(),
                "--topic", TOPIC, "--prefix", prefix, "--start", str(start),
                "--count", str(count), "--bytes", str(self.args.bytes),
                "--timeout-s", str(self.timeout)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout + 30)
        if done.returncode != 0:
            raise BenchError(f"publish {prefix}{start}+{count} failed: {done.stderr.strip()}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def wait_until(self, predicate, timeout, what, children):
        """Polls `predicate`; a child that fails (non-zero exit) or the timeout ends the wait."""
        deadline = time.time() + timeout
        while not predicate():
            for child in children:
                if not child.alive() and child.exit_code != 0:
                    time.sleep(0.1)  # let the reader thread take the last lines
                    if predicate():
                        return
                    raise BenchError(f"{what}: {child.name} exited {child.exit_code}: "
                                     f"{child.stderr_tail()}")
            if time.time() > deadline:
                raise BenchError(f"{what}: timed out after {timeout} s; progress: " +
                                 json.dumps([c.progress for c in children])[:2000])
            time.sleep(0.02)

    @staticmethod
    def total(children, key):
        return sum(int(c.progress.get(key, 0)) for c in children)

    def finish(self, children, timeout):
        """Waits for children that end on their own; reports, by name."""
        for child in children:
            code = child.wait(timeout)
            if code is None:
                child.stop()
                raise BenchError(f"{child.name} did not finish in time: {child.progress}")
        return [self.read_report(c) for c in children]

    def read_report(self, child):
        path = os.path.join(self.work_dir, child.name + ".json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        return child.report or {}

    def read_latencies(self, children):
        by_directive = {}
        for child in children:
            path = os.path.join(self.work_dir, child.name + ".lat")
            if not os.path.exists(path):
                continue
            current = None
            with open(path) as f:
                for line in f:
                    if line.startswith("#"):
                        current = by_directive.setdefault(line.split()[2], [])
                    elif current is not None:
                        current.append(int(line))
        return by_directive

    def kill_all(self, children):
        for child in children:
            if child.alive():
                child.stop(5)

    # -- measurements ----------------------------------------------------

    def broker_mark(self):
        return {"cpu_s": self.broker.cpu_s(), "t_us": now_us()}

    def wait_connected(self, name, swarms, count):
        t0 = time.time()
        self.wait_until(lambda: self.total(swarms, "connected") == count and
                        self.total(swarms, "subscribed") == count,
                        self.timeout, f"{name}: {count} units connected and subscribed", swarms)
        return time.time() - t0

    def delivery_figures(self, directives, published, swarm_reports, latencies, collector):
        """Per-directive figures: publish -> last delivery, latency percentiles, acks durable."""
        per = []
        col = {d["id"]: d for d in collector.get("directives", [])}
        for directive_id in directives:
            publish_us = published[directive_id]
            last_receive = 0
            units = 0
            for report in swarm_reports:
                for d in report.get("directives", []):
                    if d["id"] == directive_id:
                        last_receive = max(last_receive, d["last_receive_us"])
                        units += d["units"]
            acks = col.get(directive_id, {})
            per.append({
                "id": directive_id,
                "publish_us": publish_us,
                "units_received": units,
                "acks_durable": acks.get("acks", 0),
                "publish_to_last_delivery_ms": ms(last_receive - publish_us) if units else None,
                "publish_to_last_ack_durable_ms":
                    ms(acks["last_durable_us"] - publish_us) if acks.get("acks") else None,
                "latency": latency_summary(latencies.get(directive_id, [])),
                "last_receive_us": last_receive,
                "last_durable_us": acks.get("last_durable_us", 0),
            })
        return per

    def check_complete(self, name, per, expected_units):
        for d in per:
            if d["units_received"] != expected_units or d["acks_durable"] != expected_units:
                self.failures.append(
                    f"{name}: {d['id']}: {d['units_received']}/{expected_units} units received, "
                    f"{d['acks_durable']}/{expected_units} acks durable")

    def swarm_totals(self, reports):
        keys = ["units", "deliveries", "duplicates", "received_distinct", "units_complete",
                "connects", "disconnects", "sessions_present", "sessions_absent",
                "subscribe_failures", "ack_publish_errors"]
        totals = {k: sum(r.get(k, 0) for r in reports) for k in keys}
        totals["descriptors_peak_per_process"] = max(
            (r.get("descriptors_peak", 0) for r in reports), default=0)
        return totals

    def collector_summary(self, report):
        keys = ["acks_received", "acks_durable", "duplicates", "fsyncs", "batch_mean",
                "batch_max", "fdatasync_ms", "acks_per_s", "fsync_policy"]
        return {k: report.get(k) for k in keys}

    def broker_usage(self, mark, hwm_kb=None, extra_cpu_s=0.0):
        return {
            "cpu_s": round(self.broker.cpu_s() - mark["cpu_s"] + extra_cpu_s, 2),
            "peak_rss_kb": max(hwm_kb or 0, self.broker.hwm_kb() or 0),
            "rss_kb_end": self.broker.rss_kb(),
        }

    def client_cpu(self, children):
        return round(sum(c.cpu_s() or 0 for c in children), 2)

    def note_connected_rss(self, result):
        rss = self.broker.rss_kb()
        result["broker_rss_kb_connected"] = rss
        if self.first_connected_rss_kb is None:
            self.first_connected_rss_kb = rss
            result["bytes_per_connection"] = round(
                (rss - self.idle_rss_kb) * 1024 / self.n)

    # -- workloads ---------------------------------------------------------

    def run_fanout(self):
        name, prefix, rounds = "fanout", "fanout-", self.args.rounds
        result = {"rounds": rounds, "body_bytes": self.args.bytes}
        self.broker.reset_hwm()
        mark = self.broker_mark()
        children = []
        try:
            collector = self.start_collector(name, prefix, rounds)
            children.append(collector)
            swarms = self.start_swarms(name, prefix, rounds)
            children += swarms
            result["connect_s"] = round(self.wait_connected(name, swarms, self.n), 2)
            result["broker_cpu_s_connect"] = round(self.broker.cpu_s() - mark["cpu_s"], 2)
            time.sleep(1)
            self.note_connected_rss(result)
            delivery_mark = self.broker_mark()
            published = {}
            for r in range(1, rounds + 1):
                if r > 1:
                    time.sleep(1)
                out = self.publish(prefix, r, 1)
                published.update({d["id"]: d["publish_us"] for d in out["directives"]})
                self.wait_until(lambda: self.total(swarms, "received") >= self.n * r and
                                collector.progress.get("durable", 0) >= self.n * r,
                                self.timeout, f"{name}: round {r} delivered and acked",
                                children)
            swarm_reports = self.finish(swarms, self.timeout)
            collector_report = self.finish([collector], self.timeout)[0]
            result["broker_cpu_s_delivery"] = round(self.broker.cpu_s() - delivery_mark["cpu_s"], 2)
            per = self.delivery_figures(list(published), published, swarm_reports,
                                        self.read_latencies(swarms), collector_report)
            self.check_complete(name, per, self.n)
            result["per_round"] = [
                {"round": i + 1, "kind": "cold" if i == 0 else "warm",
                 **{k: d[k] for k in ("publish_to_last_delivery_ms",
                                      "publish_to_last_ack_durable_ms", "latency",
                                      "units_received", "acks_durable")}}
                for i, d in enumerate(per)]
            result["swarm"] = self.swarm_totals(swarm_reports)
            result["collector"] = self.collector_summary(collector_report)
            result["broker"] = self.broker_usage(mark)
            result["client_cpu_s"] = self.client_cpu(children)
            if self.args.latencies_out:
                # Per-unit latencies of the warm rounds, for a CDF (bench/run.py).
                latencies = self.read_latencies(swarms)
                warm = sorted(v for d in list(published)[1:] for v in latencies.get(d, []))
                with open(self.args.latencies_out, "w") as f:
                    f.write("\n".join(str(v) for v in warm) + "\n")
                result["warm_latencies_file"] = self.args.latencies_out
        finally:
            self.kill_all(children)
        return result

    def run_burst(self):
        name, prefix, count = "burst", "burst-", self.args.burst
        result = {"directives": count, "body_bytes": self.args.bytes}
        self.broker.reset_hwm()
        mark = self.broker_mark()
        children = []
        try:
            collector = self.start_collector(name, prefix, count)
            children.append(collector)
            swarms = self.start_swarms(name, prefix, count)
            children += swarms
            result["connect_s"] = round(self.wait_connected(name, swarms, self.n), 2)
            time.sleep(1)
            self.note_connected_rss(result)
            delivery_mark = self.broker_mark()
            out = self.publish(prefix, 1, count)
            published = {d["id"]: d["publish_us"] for d in out["directives"]}
            swarm_reports = self.finish(swarms, self.timeout)
            collector_report = self.finish([collector], self.timeout)[0]
            result["broker_cpu_s_delivery"] = round(self.broker.cpu_s() - delivery_mark["cpu_s"], 2)
            latencies = self.read_latencies(swarms)
            per = self.delivery_figures(list(published), published, swarm_reports, latencies,
                                        collector_report)
            self.check_complete(name, per, self.n)
            first_publish = min(published.values())
            last_receive = max(d["last_receive_us"] for d in per)
            last_durable = max(d["last_durable_us"] for d in per)
            all_latencies = [v for d in published for v in latencies.get(d, [])]
            total_acks = sum(d["acks_durable"] for d in per)
            result.update({
                "publish_span_ms": ms(max(published.values()) - first_publish),
                "first_publish_to_last_delivery_ms": ms(last_receive - first_publish),
                "first_publish_to_last_ack_durable_ms": ms(last_durable - first_publish),
                "latency": latency_summary(all_latencies),
                "acks_durable": total_acks,
                "durable_acks_per_s": round(total_acks / ((last_durable - first_publish) / 1e6)),
                "per_directive": [{k: d[k] for k in ("id", "publish_to_last_delivery_ms",
                                                     "publish_to_last_ack_durable_ms")}
                                  for d in per],
                "swarm": self.swarm_totals(swarm_reports),
                "collector": self.collector_summary(collector_report),
                "broker": self.broker_usage(mark),
                "client_cpu_s": self.client_cpu(children),
            })
        finally:
            self.kill_all(children)
        return result

    def offline_codes(self):
        """Every fifth unit (index % 5 == 4): 20 % spread over all tiers and regions."""
        return [code for i, code in enumerate(self.units) if i % 5 == 4]

    def run_catchup(self):
        name, prefix, count = "catchup", "catchup-", self.args.catchup_directives
        offline = self.offline_codes()
        offline_path = os.path.join(self.work_dir, "offline-codes.txt")
        with open(offline_path, "w") as f:
            f.write("\n".join(offline) + "\n")
        online_count = self.n - len(offline)
        result = {"directives": count, "offline_units": len(offline),
                  "online_units": online_count}
        self.broker.reset_hwm()
        mark = self.broker_mark()
        children = []
        try:
            collector = self.start_collector(name, prefix, count)
            children.append(collector)
            online = self.start_swarms(name, prefix, count, ["--exclude", offline_path],
                                       online_count, "online")
            first_offline = self.start_swarms(name, prefix, count, ["--include", offline_path],
                                              len(offline), "offline-before")
            children += online + first_offline
            result["connect_s"] = round(
                self.wait_connected(name, online + first_offline, self.n), 2)
            self.note_connected_rss(result)
            for child in first_offline:  # SIGTERM: DISCONNECT, the sessions stay
                child.stop(30)
            time.sleep(1)
            out = self.publish(prefix, 1, count)
            published = {d["id"]: d["publish_us"] for d in out["directives"]}
            self.wait_until(lambda: self.total(online, "received") >= online_count * count,
                            self.timeout, f"{name}: online units have every directive", online)
            time.sleep(0.5)
            reconnect_us = now_us()
            back = self.start_swarms(name, prefix, count, ["--include", offline_path],
                                     len(offline), "offline-back")
            children += back
            back_reports = self.finish(back, self.timeout)
            online_reports = self.finish(online, self.timeout)
            collector_report = self.finish([collector], self.timeout)[0]
            latencies = self.read_latencies(back)  # the returning units'
            per = self.delivery_figures(list(published), published, online_reports + back_reports,
                                        self.read_latencies(online + back), collector_report)
            self.check_complete(name, per, self.n)
            back_last_receive = max(d["last_receive_us"] for r in back_reports
                                    for d in r.get("directives", []) if d["counted"])
            online_last_receive = max(d["last_receive_us"] for r in online_reports
                                      for d in r.get("directives", []) if d["counted"])
            last_durable = max(d["last_durable_us"] for d in per)
            all_connected = max(r.get("first_all_connected_us", 0) for r in back_reports)
            result.update({
                "online_publish_to_last_delivery_ms":
                    ms(online_last_receive - min(published.values())),
                "reconnect_to_all_connected_ms": ms(all_connected - reconnect_us),
                "reconnect_to_last_delivery_ms": ms(back_last_receive - reconnect_us),
                "reconnect_to_last_ack_durable_ms": ms(last_durable - reconnect_us),
                "reconnect_to_complete_ms":
                    ms(max(last_durable, back_last_receive) - reconnect_us),
                "returning_units_sessions_present":
                    sum(r.get("sessions_present", 0) for r in back_reports),
                "returning_latency_from_publish": latency_summary(
                    [v for d in published for v in latencies.get(d, [])]),
                "swarm": self.swarm_totals(online_reports + back_reports),
                "collector": self.collector_summary(collector_report),
                "broker": self.broker_usage(mark),
                "client_cpu_s": self.client_cpu(children),
            })
        finally:
            self.kill_all(children)
        return result

    def restart_broker(self, sig):
        """Stops the broker with `sig` and starts it again; returns timings and usage."""
        store_before = self.broker.store_bytes()
        stop_s, hwm_kb, cpu_total = self.broker.stop(sig)
        restart_us = now_us()
        listen_s = self.broker.start()
        return {
            "signal": signal.Signals(sig).name,
            "stop_to_exit_ms": round(stop_s * 1000, 1),
            "store_bytes_before": store_before,
            "store_bytes_after": self.broker.store_bytes(),
            "restart_to_listening_ms": round(listen_s * 1000, 1),
        }, restart_us, hwm_kb, cpu_total

    def run_storm(self):
        name, prefix, count = "storm", "storm-", self.args.storm_directives
        result = {"directives": count,
                  "method": "all N connected; mosquitto stopped with SIGTERM (saves its store) "
                            "and started again on the same port and store; the 10 directives "
                            "are published as soon as it listens, while the units reconnect"}
        self.broker.reset_hwm()
        mark = self.broker_mark()
        children = []
        try:
            collector = self.start_collector(name, prefix, count)
            children.append(collector)
            swarms = self.start_swarms(name, prefix, count)
            children += swarms
            result["connect_s"] = round(self.wait_connected(name, swarms, self.n), 2)
            self.note_connected_rss(result)
            time.sleep(1)
            restart, restart_us, old_hwm, old_cpu_total = self.restart_broker(signal.SIGTERM)
            old_cpu = old_cpu_total - mark["cpu_s"]
            result["restart"] = restart
            new_mark = {"cpu_s": 0.0}
            out = self.publish(prefix, 1, count)
            published = {d["id"]: d["publish_us"] for d in out["directives"]}
            swarm_reports = self.finish(swarms, self.timeout)
            collector_report = self.finish([collector], self.timeout)[0]
            per = self.delivery_figures(list(published), published, swarm_reports,
                                        self.read_latencies(swarms), collector_report)
            self.check_complete(name, per, self.n)
            last_receive = max(d["last_receive_us"] for d in per)
            last_durable = max(d["last_durable_us"] for d in per)
            reconnected = max(r.get("last_all_connected_us", 0) for r in swarm_reports)
            latencies = self.read_latencies(swarms)
            result.update({
                "restart_to_first_publish_ms": ms(min(published.values()) - restart_us),
                "restart_to_all_reconnected_ms": ms(reconnected - restart_us),
                "restart_to_last_delivery_ms": ms(last_receive - restart_us),
                "restart_to_last_ack_durable_ms": ms(last_durable - restart_us),
                "restart_to_complete_ms": ms(max(last_receive, last_durable) - restart_us),
                "first_publish_to_last_ack_durable_ms": ms(last_durable - min(published.values())),
                "latency_from_publish": latency_summary(
                    [v for d in published for v in latencies.get(d, [])]),
                "swarm": self.swarm_totals(swarm_reports),
                "collector": self.collector_summary(collector_report),
                "broker": {**self.broker_usage(new_mark, old_hwm, old_cpu),
                           "cpu_s_before_restart_incl_save": round(old_cpu, 2)},
                "client_cpu_s": self.client_cpu(children),
            })
        finally:
            self.kill_all(children)
        return result

    def run_queued_restart(self, name, prefix, sig):
        """All N offline, `count` directives queued, broker restarted with `sig`, all N back."""
        count = self.args.storm_directives
        expect_loss = sig == signal.SIGKILL
        result = {"directives": count,
                  "method": f"all N units disconnected (sessions kept); {count} directives "
                            f"published and queued for them; mosquitto stopped with "
                            f"{signal.Signals(sig).name} and started again; then all N "
                            f"reconnect at once"}
        self.broker.reset_hwm()
        mark = self.broker_mark()
        children = []
        try:
            collector = self.start_collector(name, prefix, count)
            children.append(collector)
            first = self.start_swarms(name, prefix, count, tag="before")
            children += first
            result["connect_s"] = round(self.wait_connected(name, first, self.n), 2)
            for child in first:
                child.stop(30)
            time.sleep(1)
            out = self.publish(prefix, 1, count)
            published = {d["id"]: d["publish_us"] for d in out["directives"]}
            time.sleep(1)
            result["broker_rss_kb_queued"] = self.broker.rss_kb()
            restart, restart_us, old_hwm, old_cpu_total = self.restart_broker(sig)
            old_cpu = old_cpu_total - mark["cpu_s"]
            result["restart"] = restart
            reconnect_us = now_us()
            back = self.start_swarms(name, prefix, count, tag="back")
            children += back
            if expect_loss:
                # Wait until everyone is back, then give the broker time to
                # deliver whatever survived.
                self.wait_connected(name, back, self.n)
                quiet = self.args.kill9_wait_s
                deadline = time.time() + quiet
                while time.time() < deadline and self.total(back, "complete") < self.n:
                    time.sleep(0.1)
                time.sleep(1)
                for child in back:
                    child.stop(30)
                collector.stop(30)
                back_reports = [self.read_report(c) for c in back]
                collector_report = self.read_report(collector)
            else:
                back_reports = self.finish(back, self.timeout)
                collector_report = self.finish([collector], self.timeout)[0]
            latencies = self.read_latencies(back)
            per = self.delivery_figures(list(published), published, back_reports, latencies,
                                        collector_report)
            received = sum(d["units_received"] for d in per)
            queued = self.n * count
            stale = sum(d["units"] for r in back_reports for d in r.get("directives", [])
                        if not d["counted"])
            result.update({
                "queued_deliveries": queued,
                "delivered_after_restart": received,
                "lost": queued - received,
                "stale_redeliveries_of_older_directives": stale,
                "returning_sessions_present": sum(r.get("sessions_present", 0)
                                                  for r in back_reports),
                "returning_sessions_absent": sum(r.get("sessions_absent", 0)
                                                 for r in back_reports),
                "swarm": self.swarm_totals(back_reports),
                "collector": self.collector_summary(collector_report),
                "broker": {**self.broker_usage({"cpu_s": 0.0}, old_hwm, old_cpu),
                           "cpu_s_before_restart_incl_save": round(old_cpu, 2)},
                "client_cpu_s": self.client_cpu(children),
            })
            if received:
                last_receive = max(d["last_receive_us"] for d in per)
                all_connected = max(r.get("first_all_connected_us", 0) for r in back_reports)
                result.update({
                    "reconnect_to_all_connected_ms": ms(all_connected - reconnect_us),
                    "reconnect_to_last_delivery_ms": ms(last_receive - reconnect_us),
                })
                durable = [d["last_durable_us"] for d in per if d["acks_durable"]]
                if durable:
                    result["reconnect_to_last_ack_durable_ms"] = ms(max(durable) - reconnect_us)
                    result["reconnect_to_complete_ms"] = ms(max(max(durable), last_receive) -
                                                            reconnect_us)
            if not expect_loss:
                self.check_complete(name, per, self.n)
        finally:
            self.kill_all(children)
        return result

    # -- driver ------------------------------------------------------------

    def wait_quiet(self):
        """Measures the machine's CPU use (cores) over 2 s while only the idle broker runs;
        with --wait-quiet-s, waits until it is below 0.15 core or that long has passed."""
        deadline = time.time() + self.args.wait_quiet_s
        while True:
            busy0, t0 = machine_busy_s(), time.time()
            time.sleep(2)
            cores = round((machine_busy_s() - busy0) / (time.time() - t0), 2)
            if cores < 0.15 or time.time() >= deadline:
                if cores >= 0.15:
                    log(f"warning: the machine is busy ({cores} cores besides this bench)")
                return cores
            log(f"machine busy ({cores} cores); waiting for it to be quiet")
            time.sleep(5)

    def run(self):
        log(f"work dir {self.work_dir}; mosquitto on 127.0.0.1:{self.port}; N={self.n}, "
            f"{self.processes_for(self.n)} swarm processes")
        self.broker.start()
        time.sleep(0.5)
        self.idle_rss_kb = self.broker.rss_kb()
        runners = {
            "fanout": self.run_fanout,
            "burst": self.run_burst,
            "catchup": self.run_catchup,
            "storm": self.run_storm,
            "storm-queued": lambda: self.run_queued_restart("storm-queued", "squeued-",
                                                            signal.SIGTERM),
            "kill9": lambda: self.run_queued_restart("kill9", "kill9-", signal.SIGKILL),
        }
        for workload in self.args.workloads:
            self.run_workload(workload, runners[workload])
        self.broker.stop(signal.SIGTERM)
        return self.summary()

    def run_workload(self, workload, runner):
        """Runs one workload; when other processes used more than --busy-threshold-s of CPU
        meanwhile, runs it again (up to --attempts), the fanout on a fresh broker."""
        disturbed = []
        for attempt in range(1, self.args.attempts + 1):
            if attempt > 1 and workload == "fanout":
                self.fresh_broker()
            background = self.wait_quiet()
            log(f"workload {workload}" + (f" (attempt {attempt})" if attempt > 1 else ""))
            failures_before = len(self.failures)
            t0 = time.time()
            busy0, self0 = machine_busy_s(), self_cpu_s()
            load0 = os.getloadavg()[0]
            try:
                result = runner()
            except BenchError as e:
                self.failures.append(f"{workload}: {e}")
                self.results[workload] = {"error": str(e), "disturbed_attempts": disturbed}
                log(f"workload {workload} FAILED: {e}")
                if not self.broker.child.alive():
                    self.broker.start()
                return
            result["wall_s"] = round(time.time() - t0, 1)
            # Everything else the machine did meanwhile: other users' work skews the
            # figures (the publisher and kernel threads are in here too, a few
            # hundredths of a second).
            machine = machine_busy_s() - busy0
            ours = result["broker"]["cpu_s"] + result["client_cpu_s"] + self_cpu_s() - self0
            result["machine_cpu_s"] = round(machine, 2)
            result["other_cpu_s"] = round(machine - ours, 2)
            result["loadavg_1min_at_start"] = round(load0, 2)
            result["background_cores_before"] = background
            result["attempt"] = attempt
            result["disturbed_attempts"] = disturbed
            self.results[workload] = result
            log(f"workload {workload} done in {time.time() - t0:.1f} s "
                f"(other CPU {result['other_cpu_s']} s)")
            # Loopback softirq work and the publisher count as "other" too: allow 6 %.
            threshold = max(self.args.busy_threshold_s, 0.06 * machine)
            if result["other_cpu_s"] <= threshold or attempt == self.args.attempts:
                return
            disturbed.append({"attempt": attempt, "other_cpu_s": result["other_cpu_s"]})
            del self.failures[failures_before:]
            log(f"workload {workload} was disturbed by other processes; again")

    def fresh_broker(self):
        """A new, empty broker (no sessions, no store) on the same port."""
        self.broker.stop(signal.SIGTERM)
        shutil.rmtree(self.broker.store_dir, ignore_errors=True)
        os.makedirs(self.broker.store_dir, exist_ok=True)
        self.broker.start()
        time.sleep(0.5)
        self.idle_rss_kb = self.broker.rss_kb()
        self.first_connected_rss_kb = None

    def summary(self):
        return {
            "tool": "bench/mqtt/mqtt_bench.py",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "mosquitto": mosquitto_version(self.args.mosquitto),
            "libmosquitto": "2.0.11 (Debian 12)",
            "n": self.n,
            "rounds": self.args.rounds,
            "body_bytes": self.args.bytes,
            "swarm_processes": self.processes_for(self.n),
            "clients_per_process_max": self.args.clients_per_process,
            "descriptors_per_client": DESCRIPTORS_PER_CLIENT,
            "connect_window_per_process": self.connect_window(),
            "mosquitto_conf": self.broker.config.splitlines(),
            "collector_fsync_policy": "one write() + one fdatasync() per loop pass, covering "
                                      "every ack read from the socket in that pass "
                                      "(group commit); an ack counts as durable when that "
                                      "fdatasync returns",
            "broker_idle_rss_kb": self.idle_rss_kb,
            "page_size": os.sysconf("SC_PAGE_SIZE"),
            "broker_bytes_per_connection": next(
                (r["bytes_per_connection"] for r in self.results.values()
                 if isinstance(r, dict) and "bytes_per_connection" in r), None),
            "work_dir": self.work_dir,
            "workloads": self.results,
            "failures": self.failures,
            "ok": not self.failures,
        }


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except OSError:
        pass
    import resource
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "open_file_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "hostname": platform.node(),
    }


def mosquitto_version(binary):
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


# --------------------------------------------------------------------------
# Output


def table(summary):
    rows = []

    def add(workload, figure, value):
        rows.append((workload, figure, "-" if value is None else str(value)))

    w = summary["workloads"]
    for name in w:
        r = w[name]
        if "error" in r:
            add(name, "ERROR", r["error"][:90])
            continue
        if name == "fanout":
            add(name, "connect N (s)", r.get("connect_s"))
            for rd in r["per_round"]:
                tag = f"round {rd['round']} ({rd['kind']})"
                add(name, f"{tag} publish->last delivery ms", rd["publish_to_last_delivery_ms"])
                lat = rd["latency"]
                add(name, f"{tag} latency p50/p99/max ms",
                    f"{lat['p50_ms']} / {lat['p99_ms']} / {lat['max_ms']}")
                add(name, f"{tag} publish->last ack durable ms",
                    rd["publish_to_last_ack_durable_ms"])
        elif name == "burst":
            add(name, "publish->last delivery ms", r["first_publish_to_last_delivery_ms"])
            lat = r["latency"]
            add(name, "latency p50/p99/max ms",
                f"{lat['p50_ms']} / {lat['p99_ms']} / {lat['max_ms']}")
            add(name, "publish->last ack durable ms", r["first_publish_to_last_ack_durable_ms"])
            add(name, "durable acks/s", r["durable_acks_per_s"])
        elif name == "catchup":
            add(name, "offline units", r["offline_units"])
            add(name, "online: publish->last delivery ms", r["online_publish_to_last_delivery_ms"])
            add(name, "reconnect->all connected ms", r["reconnect_to_all_connected_ms"])
            add(name, "reconnect->last delivery ms", r["reconnect_to_last_delivery_ms"])
            add(name, "reconnect->last ack durable ms", r["reconnect_to_last_ack_durable_ms"])
        elif name == "storm":
            add(name, "SIGTERM->exit (store saved) ms", r["restart"]["stop_to_exit_ms"])
            add(name, "restart->listening ms", r["restart"]["restart_to_listening_ms"])
            add(name, "restart->all N reconnected ms", r["restart_to_all_reconnected_ms"])
            add(name, "restart->last delivery ms", r["restart_to_last_delivery_ms"])
            add(name, "restart->last ack durable ms", r["restart_to_last_ack_durable_ms"])
        else:
            add(name, f"{r['restart']['signal']}->exit ms", r["restart"]["stop_to_exit_ms"])
            add(name, "restart->listening ms", r["restart"]["restart_to_listening_ms"])
            add(name, "queued / delivered / lost",
                f"{r['queued_deliveries']} / {r['delivered_after_restart']} / {r['lost']}")
            add(name, "reconnect->last delivery ms", r.get("reconnect_to_last_delivery_ms"))
            add(name, "reconnect->last ack durable ms", r.get("reconnect_to_last_ack_durable_ms"))
            if r.get("stale_redeliveries_of_older_directives"):
                add(name, "stale redeliveries (older directives)",
                    r["stale_redeliveries_of_older_directives"])
        b = r["broker"]
        add(name, "mosquitto peak RSS MiB / CPU s",
            f"{round(b['peak_rss_kb'] / 1024, 1)} / {b['cpu_s']}")
        add(name, "clients' CPU s (swarms+collector)", r.get("client_cpu_s"))
        add(name, "other CPU s on the machine meanwhile", r.get("other_cpu_s"))
        add(name, "collector fdatasyncs / mean batch",
            f"{r['collector']['fsyncs']} / {round(r['collector']['batch_mean'] or 0, 1)}")
    width = [max(len(row[i]) for row in rows + [("workload", "figure", "value")])
             for i in range(3)]
    lines = [f"{'workload':<{width[0]}}  {'figure':<{width[1]}}  value",
             f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}"]
    lines += [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]
    head = (f"Mosquitto {summary['mosquitto']} | N={summary['n']} | "
            f"{summary['machine']['cpus']} CPU {summary['machine']['cpu_model']} | "
            f"{summary['date']} | idle RSS {summary['broker_idle_rss_kb']} kB | "
            f"bytes/connection {summary['broker_bytes_per_connection']}")
    return head + "\n" + "\n".join(lines)


def main():
    default_bin = os.path.join(REPO, "build-mqtt", "bin")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=19571, help="units (first N below the province)")
    parser.add_argument("--rounds", type=int, default=3, help="fanout rounds")
    parser.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                        help="comma list of " + ",".join(ALL_WORKLOADS))
    parser.add_argument("--out", help="write the JSON here")
    parser.add_argument("--smoke", action="store_true",
                        help="about 300 units, 1 round, correctness only (non-zero exit when "
                             "a unit misses a directive or an ack is not durable)")
    parser.add_argument("--bin-dir", default=default_bin, help="where the three programs are")
    parser.add_argument("--registry",
                        default=os.path.join(REPO, "configs", "registry", "guizhou-52.tsv"))
    parser.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    parser.add_argument("--bytes", type=int, default=4096, help="directive body size")
    parser.add_argument("--burst", type=int, default=20, help="directives in the burst")
    parser.add_argument("--catchup-directives", type=int, default=10)
    parser.add_argument("--storm-directives", type=int, default=10)
    parser.add_argument("--clients-per-process", type=int, default=5000,
                        help="at most this many units per swarm process (3 descriptors each)")
    parser.add_argument("--connect-window", type=int, default=0,
                        help="per swarm process: clients between TCP connect and CONNACK at "
                             "once (0: 96 / processes, so that all processes together stay "
                             "under Mosquitto's listen backlog of 100)")
    parser.add_argument("--max-inflight", type=int, default=0,
                        help="mosquitto max_inflight_messages (0: no limit; Mosquitto's "
                             "default is 20, which throttles the collector's ack stream)")
    parser.add_argument("--max-queued", type=int, default=1000000,
                        help="mosquitto max_queued_messages per client (default 1000000: "
                             "the catch-up and the collector's backlog after a restart)")
    parser.add_argument("--allow-duplicate-messages", choices=["true", "false"], default="true",
                        help="mosquitto allow_duplicate_messages (2.0.11 defaults to false, "
                             "which costs O(N^2) per fanned-out message)")
    parser.add_argument("--timeout-s", type=int, default=300, help="per phase")
    parser.add_argument("--kill9-wait-s", type=float, default=10,
                        help="kill9: how long to wait for deliveries once all units are back")
    parser.add_argument("--wait-quiet-s", type=float, default=0,
                        help="before each workload, wait up to this long for the machine to "
                             "be idle (other users' processes skew the figures)")
    parser.add_argument("--attempts", type=int, default=1,
                        help="run a workload again (up to this many times in all) when other "
                             "processes used more than --busy-threshold-s CPU seconds meanwhile")
    parser.add_argument("--busy-threshold-s", type=float, default=2.0,
                        help="CPU seconds of other processes that count as a disturbance "
                             "(at least 6 %% of the machine's CPU time in the workload)")
    parser.add_argument("--work-root", default=None, help="parent of the temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--latencies-out", default=None,
                        help="write the fanout's warm-round per-unit latencies (µs) here")
    args = parser.parse_args()
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in ALL_WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}")
    if args.smoke:
        args.n = min(args.n, 300)
        args.rounds = 1
        args.clients_per_process = 150  # two swarm processes, as at full scale
        args.timeout_s = min(args.timeout_s, 60)
        args.kill9_wait_s = min(args.kill9_wait_s, 3)
    limit = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0]
    if args.clients_per_process * DESCRIPTORS_PER_CLIENT + 64 > limit:
        parser.error(f"--clients-per-process {args.clients_per_process} needs more than the "
                     f"open-file limit {limit}")
    if args.n + 64 > limit:
        log(f"warning: mosquitto needs about {args.n + 64} descriptors; the limit is {limit}")

    bench = None
    try:
        bench = Bench(args)
        summary = bench.run()
    except BenchError as e:
        log(f"error: {e}")
        return 2
    finally:
        if bench is not None and bench.broker.child is not None and bench.broker.child.alive():
            bench.broker.child.stop(30)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(table(summary))
    if not args.keep and summary["ok"]:
        shutil.rmtree(bench.work_dir, ignore_errors=True)
    elif not summary["ok"]:
        log(f"kept {bench.work_dir} for inspection")
    for failure in summary["failures"]:
        log(f"FAILURE: {failure}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
