#!/usr/bin/env python3
"""The public side's benchmark (docs/BENCHMARKS.md, docs/PUBLIC.md).

Real processes only, every connection CURVE: a broker with a release key and a
public lead of 1 s, one flatcast-public fed by it (pinned to CPU 1 with taskset:
"one core"), swarm terminals for every unit of a region (default 5201, 贵阳市),
and public directives for the province. In one run:

  get      wrk (Debian's, pinned to CPU 0) against one region's list: conditional
           GETs (If-None-Match with the current ETag: 304) and plain GETs (200), per
           second, with the public server's CPU over the run
  sse      N event-stream clients (asyncio, one process) on a community's events;
           a public directive is released: the time from its release (the event's
           own "updated", the broker's clock) until each client has the event
  fanout   fan-out rounds to the swarm (an internal directive each; the time from
           the publish call to the last RECEIVED acknowledgement durable), alone,
           while wrk loads the public server, and while the public server is held
           at its descriptor limit by idle connections (prlimit)

  python3 bench/public_bench.py [--repeat 3] [--clients 2000] [--out FILE]

Standard library only; needs wrk and taskset (scripts/setup.sh).
"""

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import flatcast_bench  # noqa: E402
from flatcast_bench import BenchError, common, log  # noqa: E402

REPO = flatcast_bench.REPO
COMMUNITY = "520102016001"  # 纪念塔社区: its page sees the province's directives


class PublicBench(flatcast_bench.Flatcast):
    def make_keys(self):
        super().make_keys()
        k = lambda name: os.path.join(self.keys, name)  # noqa: E731
        self.keys_cli("generate", "--kind", "signing", "--out", k("release"))
        self.keys_cli("register", "--registry", k("registry.toml"), "--name", "broker-52",
                      "--role", "broker", "--subject", "52", "--curve-pub", k("broker.pub"),
                      "--signing-pub", k("release.pub"))
        self.keys_cli("generate", "--kind", "curve", "--out", k("public"))
        self.keys_cli("register", "--registry", k("registry.toml"), "--name", "public-1",
                      "--role", "public", "--subject", "public-1", "--curve-pub", k("public.pub"))

    def start_public(self, name, nofile=None):
        url_file = os.path.join(self.work, name + ".url")
        if os.path.exists(url_file):
            os.remove(url_file)
        argv = ["taskset", "-c", "1"]
        if nofile:
            argv += ["prlimit", f"--nofile={nofile}:{nofile}"]
        argv += [os.path.join(self.bin, "flatcast-public"), "--broker", self.endpoint,
                 "--data-dir", os.path.join(self.work, name + "-data"),
                 "--registry", self.args.registry, "--listen", "127.0.0.1:0",
                 "--listen-file", url_file, "--max-subscribers", str(self.args.clients + 100),
                 "--curve-key", os.path.join(self.keys, "public.key"),
                 "--broker-key", os.path.join(self.keys, "broker.pub"), "--log-level", "warn"]
        child = common.Child(name, argv, self.work)
        self.children.append(child)
        deadline = time.time() + 30
        while not os.path.exists(url_file) or not open(url_file).read().strip():
            if not child.alive() or time.time() > deadline:
                raise BenchError(f"{name} did not start: {child.stderr_tail()}")
            time.sleep(0.05)
        return child, open(url_file).read().strip()

    def publish_public(self, title, scope="52"):
        done = subprocess.run(
            [os.path.join(self.bin, "flatcast-publisher"), "--broker", self.endpoint,
             *self.client_security(), "--publisher", "guizhou-health", "--json",
             "--signing-key", os.path.join(self.keys, "publisher-sign.key"), "publish",
             "--issuer", "52", "--department", "HEALTH", "--title", title,
             "--body", "乘坐公共交通请全程佩戴口罩。" * 8, "--action", "张贴告示|community",
             "--scope", scope, "--tiers", "community", "--public"],
            capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise BenchError(f"publish: {done.stderr.strip()}")
        return json.loads(done.stdout)["id"]


def http_get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("ETag"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("ETag"), b""


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, seconds, connections, etag=None):
    argv = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if etag:
        argv += ["-H", f"If-None-Match: {etag}"]
    done = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk: {done.stderr.strip()}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", done.stdout)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {"requests_per_s": round(rps), "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
            "p99_ms": round(float(p99.group(1)) * scale[p99.group(2)], 2) if p99 else None}


async def sse_clients(url, region, n, ready_event, results, stop):
    host, port = url[len("http://"):].split(":")
    req = (f"GET /public/events?region={region} HTTP/1.1\r\nHost: feed\r\n"
           f"Accept: text/event-stream\r\n\r\n").encode()

    async def one(i):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(req)
        await writer.drain()
        buf = b""
        while b"retry: 3000\n\n" not in buf:
            buf += await reader.read(4096)
        ready_event[i] = True
        buf = b""
        while b"\ndata: " not in buf or not buf.endswith(b"\n\n"):
            chunk = await asyncio.wait_for(reader.read(65536), timeout=120)
            if not chunk:
                raise BenchError("an event stream closed")
            buf += chunk
        results[i] = (time.time(), buf)
        writer.close()

    tasks = []
    for i in range(n):
        tasks.append(asyncio.ensure_future(one(i)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)


def parse_iso(text):
    # "2026-12-07T15:49:50.793040416Z": microseconds are enough.
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.(\d+))?Z", text)
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    frac = float("0." + (m.group(3) or "0"))
    return (base - datetime(1970, 1, 1)).total_seconds() + frac


def run_sse(bench, url, n, round_):
    ready = [False] * n
    results = [None] * n
    loop = asyncio.new_event_loop()

    async def main():
        clients = asyncio.ensure_future(sse_clients(url, COMMUNITY, n, ready, results, None))
        deadline = time.time() + 120
        while not all(ready):
            if clients.done():
                clients.result()
            if time.time() > deadline:
                raise BenchError(f"sse: only {sum(ready)} of {n} streams open")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        await loop.run_in_executor(None, bench.publish_public, f"SSE round {round_}")
        await asyncio.wait_for(clients, timeout=120)

    loop.run_until_complete(main())
    loop.close()
    lat = []
    for at, buf in results:
        data = json.loads(buf.split(b"\ndata: ", 1)[1].split(b"\n", 1)[0])
        lat.append((at - parse_iso(data["updated"])) * 1000)
    lat.sort()
    return {"clients": n, "median_ms": round(statistics.median(lat), 1),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 1), "last_ms": round(lat[-1], 1)}


def flood(url, count):
    host, port = url[len("http://"):].split(":")
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            socks.append(s)
        except OSError:
            s.close()
    return socks


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    flatcast_bench.add_arguments(p)
    p.set_defaults(region="5201")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--directives", type=int, default=20, help="public directives on the page")
    p.add_argument("--seconds", type=int, default=10, help="each wrk run")
    p.add_argument("--out", help="write the JSON here")
    args = p.parse_args()
    for tool in ("wrk", "taskset", "prlimit"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (scripts/setup.sh installs it)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args.broker_arg += ["--public-lead-time", "1s", "--heartbeat-interval", "1s"]
    bench = PublicBench(args, curve=True, label="public")
    args.broker_arg += ["--public-signing-key", os.path.join(bench.keys, "release.key")]
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} {os.cpu_count()} CPUs",
              "region": args.region, "terminals": args.n, "ok": False}
    try:
        bench.start_broker(os.path.join(bench.work, "data"))
        public, url = bench.start_public("public")
        for i in range(args.directives):
            bench.publish_public(f"公共交通佩戴口罩 第{i + 1}号")
        target = f"{url}/public/directives?region={COMMUNITY}"
        deadline = time.time() + 60
        while True:
            status, etag, body = http_get(target)
            if status == 200 and len(json.loads(body)["directives"]) >= args.directives:
                break
            if time.time() > deadline:
                raise BenchError("the public directives were not released")
            time.sleep(0.2)
        log(f"public server {url}: {args.directives} directives for {COMMUNITY}, ETag {etag}")

        gets = {"conditional": [], "plain": []}
        for r in range(args.repeat):
            for kind in ("conditional", "plain"):
                c0, t0 = cpu_s(public.pid), time.time()
                run = wrk(target, args.seconds, 64, etag if kind == "conditional" else None)
                run["server_cores"] = round((cpu_s(public.pid) - c0) / (time.time() - t0), 2)
                gets[kind].append(run)
                log(f"get {kind} {r + 1}: {run}")
        result["get"] = {k: {"runs": v, "median_requests_per_s":
                             statistics.median(x["requests_per_s"] for x in v)}
                         for k, v in gets.items()}

        sse = []
        for r in range(args.repeat):
            sse.append(run_sse(bench, url, args.clients, r + 1))
            log(f"sse {r + 1}: {sse[-1]}")
        result["sse"] = {"runs": sse,
                         "median_last_ms": statistics.median(x["last_ms"] for x in sse),
                         "median_median_ms": statistics.median(x["median_ms"] for x in sse)}

        swarms = bench.start_swarms("fanout")
        bench.wait_connected("fanout", swarms, args.n)
        fan = {"alone": [], "get_load": [], "flooded": []}
        for r in range(args.repeat):
            fan["alone"].append(bench.fanout_round(swarms))
            load = subprocess.Popen(["taskset", "-c", "0", "wrk", "-t1", "-c64", "-d60s",
                                     "-H", f"If-None-Match: {etag}", target],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            fan["get_load"].append(bench.fanout_round(swarms))
            load.kill()
            load.wait()
            log(f"fanout {r + 1}: alone {fan['alone'][-1]} ms, under GET load "
                f"{fan['get_load'][-1]} ms")
        # The public server held at its descriptor limit by idle connections.
        public.signal(15)
        public.wait(10)
        flooded, flooded_url = bench.start_public("public-flooded", nofile=1024)
        socks = flood(flooded_url, 1500)
        for r in range(args.repeat):
            fan["flooded"].append(bench.fanout_round(swarms))
            log(f"fanout {r + 1}: public server flooded ({len(socks)} idle connections): "
                f"{fan['flooded'][-1]} ms")
        for s in socks:
            s.close()
        result["fanout"] = {k: {"runs_ms": v, "median_ms": statistics.median(v)}
                            for k, v in fan.items()}
        result["fanout"]["flood_connections"] = len(socks)
        bench.stop_swarms(swarms)
        result["ok"] = True
    finally:
        bench.kill_children()
        if not args.keep:
            shutil.rmtree(bench.work, ignore_errors=True)
    return flatcast_bench.write_result(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
