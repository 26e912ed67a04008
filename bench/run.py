#!/usr/bin/env python3
"""The whole benchmark (docs/BENCHMARKS.md): flatcast with CURVE, flatcast
without CURVE, and Mosquitto doing the nearest equivalent, on the same N,
payload and machine, in one run. Writes results.json, a Markdown table with
the ratios (table.md) and the delivery-latency CDF plot (cdf.png, gnuplot)
into --out-dir, and prints the table.

  python3 bench/run.py [--out-dir build/bench] [--rounds 8] [--repeat 3] [--smoke]

By default everything runs 3 times with 8 fan-out rounds each (about 16
minutes on 2 cores); the table gives each figure's median over the runs.

--smoke runs a few hundred terminals once through every workload of both
systems and fails unless every unit got every directive and every ack is
durable; it checks the harness, not speed (ctest runs it).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import flatcast_bench  # noqa: E402

log = flatcast_bench.log


def run_mosquitto(args, out_path, n):
    argv = [sys.executable, os.path.join(HERE, "mqtt", "mqtt_bench.py"), "--n", str(n),
            "--rounds", str(args.rounds), "--workloads", "fanout,burst,catchup,storm",
            "--bin-dir", args.bin_dir, "--out", out_path, "--bytes", str(args.bytes),
            "--latencies-out", os.path.join(os.path.dirname(out_path), "mosquitto-warm-us.txt")]
    if args.work_root:
        argv += ["--work-root", args.work_root]
    if args.keep:
        argv.append("--keep")
    log("mosquitto: " + " ".join(argv[1:]))
    done = subprocess.run(argv, stdout=subprocess.DEVNULL)
    if not os.path.exists(out_path):
        return {"ok": False, "failures": [f"mqtt_bench.py exited {done.returncode}"], "workloads": {}}
    with open(out_path) as f:
        return json.load(f)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def run_once(args, n):
    """Every system once: {label: that system's result}."""
    runs = {}
    for label, curve, workloads in (("flatcast (CURVE)", True, flatcast_bench.ALL_WORKLOADS),
                                    ("flatcast (no CURVE)", False, flatcast_bench.ALL_WORKLOADS)):
        bench = flatcast_bench.Flatcast(args, curve=curve,
                                        label="flatcast" if curve else "flatcast-nocurve")
        try:
            runs[label] = bench.run(workloads)
        finally:
            if not args.keep:
                # Keep the latency files the plot needs.
                lat = runs.get(label, {}).get("workloads", {}).get("fanout", {}).get("warm_latencies_file")
                if lat and os.path.exists(lat):
                    kept = os.path.join(args.out_dir, ("curve" if curve else "nocurve") + "-warm-us.txt")
                    shutil.copy(lat, kept)
                    runs[label]["workloads"]["fanout"]["warm_latencies_file"] = kept
                bench.cleanup()
    if not args.skip_mosquitto:
        runs["Mosquitto"] = run_mosquitto(args, os.path.join(args.out_dir, "mosquitto.json"), n)
    return runs


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def warm(workload, key, sub=None):
    """The median over warm rounds of a per-round figure."""
    rounds = [r for r in workload.get("per_round", []) if r.get("kind") == "warm"]
    return median([(r.get(key) or {}).get(sub) if sub else r.get(key) for r in rounds])


def cold(workload, key, sub=None):
    rounds = [r for r in workload.get("per_round", []) if r.get("kind") == "cold"]
    if not rounds:
        return None
    return (rounds[0].get(key) or {}).get(sub) if sub else rounds[0].get(key)


def figures(result):
    """The figures compared, from one system's JSON (flatcast or Mosquitto: the same names)."""
    w = result.get("workloads", {})
    fan, burst, catch, storm = (w.get(k, {}) for k in ("fanout", "burst", "catchup", "storm"))
    mib = lambda kb: round(kb / 1024, 1) if kb else None  # noqa: E731
    return {
        "fan-out: publish → last delivery, warm median (ms)": warm(fan, "publish_to_last_delivery_ms"),
        "fan-out: publish → last ack durable, warm median (ms)": warm(fan, "publish_to_last_ack_durable_ms"),
        "fan-out: publish → last ack durable, cold round (ms)": cold(fan, "publish_to_last_ack_durable_ms"),
        "fan-out: delivery p50, warm median (ms)": warm(fan, "latency", "p50_ms"),
        "fan-out: delivery p99, warm median (ms)": warm(fan, "latency", "p99_ms"),
        "fan-out: delivery max, warm median (ms)": warm(fan, "latency", "max_ms"),
        "burst of 20: first publish → last ack durable (ms)": burst.get("first_publish_to_last_ack_durable_ms"),
        "burst of 20: durable acks/s": burst.get("durable_acks_per_s"),
        "catch-up of 20 % offline (broker up): back → last ack durable (ms)":
            catch.get("reconnect_to_last_ack_durable_ms"),
        "storm: restart → last ack durable, every unit all 10 (ms)":
            storm.get("restart_to_last_ack_durable_ms"),
        "connect all N (s)": fan.get("connect_s"),
        "broker RSS with N connected (MiB)": mib(fan.get("broker_rss_kb_connected")),
        "broker peak RSS, fan-out (MiB)": mib(fan.get("broker_peak_rss_kb") or
                                              (fan.get("broker") or {}).get("peak_rss_kb")),
        "broker peak RSS, burst (MiB)": mib(burst.get("broker_peak_rss_kb") or
                                            (burst.get("broker") or {}).get("peak_rss_kb")),
        "broker bytes per connection": fan.get("bytes_per_connection") or result.get("broker_bytes_per_connection"),
        "broker CPU per fan-out round (s)": warm(fan, "broker_cpu_s") or
            (round(fan["broker_cpu_s_delivery"] / fan["rounds"], 2) if fan.get("broker_cpu_s_delivery") else None),
        "broker CPU, burst (s)": burst.get("broker_cpu_s") or (burst.get("broker") or {}).get("cpu_s"),
    }


HIGHER_IS_BETTER = {"burst of 20: durable acks/s"}


def table(columns):
    """Markdown: one row per figure, one column per system, then Mosquitto ÷ flatcast: above 1,
    flatcast is faster or leaner (acks/s: flatcast ÷ Mosquitto, "more")."""
    names = list(columns)
    rows = list(next(iter(columns.values())).keys())
    out = ["| figure | " + " | ".join(names) +
           " | Mosquitto ÷ flatcast (CURVE) | Mosquitto ÷ flatcast (no CURVE) |",
           "|---|" + "---|" * (len(names) + 2)]
    for row in rows:
        cells = []
        for name in names:
            v = columns[name].get(row)
            cells.append("—" if v is None else (f"{v:,}" if isinstance(v, int) else
                                                 f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"))
        ratios = []
        m = columns.get("Mosquitto", {}).get(row)
        for name in ("flatcast (CURVE)", "flatcast (no CURVE)"):
            f = columns.get(name, {}).get(row)
            if not m or not f:
                ratios.append("—")
            elif row in HIGHER_IS_BETTER:
                ratios.append(f"{f / m:.2f}× more")
            else:
                ratios.append(f"{m / f:.2f}×")
        out.append(f"| {row} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(out) + "\n"


def plot(out_dir, series):
    """A CDF of per-unit delivery latency (warm fan-out rounds) per system, with gnuplot."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plot")
        return None
    data = []
    for name, path in series:
        if not path or not os.path.exists(path):
            continue
        with open(path) as f:
            values = sorted(int(line) for line in f if line.strip())
        if not values:
            continue
        out = os.path.join(out_dir, name.replace(" ", "_").replace("(", "").replace(")", "") + ".cdf")
        step = max(1, len(values) // 2000)
        with open(out, "w") as f:
            for i in range(0, len(values), step):
                f.write(f"{values[i] / 1000.0} {(i + 1) / len(values)}\n")
            f.write(f"{values[-1] / 1000.0} 1.0\n")
        data.append((name, out))
    if not data:
        return None
    png = os.path.join(out_dir, "cdf.png")
    script = [
        "set terminal pngcairo size 900,560 font ',11'" if _has_cairo() else "set terminal png size 900,560",
        f"set output '{png}'",
        "set title 'Per-unit delivery latency, one 4 KiB directive to every unit (warm rounds)'",
        "set xlabel 'ms from publish to receipt at the unit'",
        "set ylabel 'fraction of units'",
        "set key bottom right",
        "set grid",
        "set yrange [0:1]",
        "plot " + ", ".join(f"'{path}' using 1:2 with lines lw 2 title '{name}'" for name, path in data),
    ]
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=False)
    return png if os.path.exists(png) else None


def _has_cairo():
    done = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (done.stdout + done.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    flatcast_bench.add_arguments(p)
    p.set_defaults(rounds=8)
    p.add_argument("--out-dir", default=os.path.join(REPO, "build", "bench"))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--skip-mosquitto", action="store_true")
    p.add_argument("--repeat", type=int, default=3,
                   help="run everything this many times; the table gives each figure's median")
    args = p.parse_args()
    if args.smoke:
        args.region = "520102"  # 235 units
        args.rounds = 2
        args.timeout_s = 120
        args.repeat = 1
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.time()
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": f"{os.cpu_count()} vCPU {cpu_model()}, "
                          f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
                          f"{platform.system()} {platform.release()}",
               "command": " ".join(sys.argv)}
    repeats = []
    n = len(flatcast_bench.read_units(args.registry, args.region))
    for repeat in range(args.repeat):
        log(f"== run {repeat + 1} of {args.repeat}")
        repeats.append(run_once(args, n))
    runs = repeats[-1]
    results["runs"] = repeats
    per_repeat = [{name: figures(r) for name, r in rs.items()} for rs in repeats]
    columns = {name: {row: median([f[name][row] for f in per_repeat if name in f])
                      for row in per_repeat[0][name]} for name in per_repeat[0]}
    results["figures_per_run"] = per_repeat
    results["figures"] = columns
    md = table(columns)
    mosq_lat = runs.get("Mosquitto", {}).get("workloads", {}).get("fanout", {}).get("warm_latencies_file")
    png = plot(args.out_dir, [(name, r.get("workloads", {}).get("fanout", {}).get("warm_latencies_file"))
                              for name, r in runs.items() if name != "Mosquitto"] +
               [("Mosquitto", mosq_lat)])
    results["plot"] = png
    results["elapsed_s"] = round(time.time() - started, 1)
    ok = all(r.get("ok") for rs in repeats for r in rs.values())
    results["ok"] = ok
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(md)
    print(f"\nN = {n} terminals, {args.bytes}-byte body, {results['date']}, {results['machine']}, "
          f"medians of {args.repeat} run{'s' if args.repeat > 1 else ''}\n")
    print(md)
    for rs in repeats:
        for name, r in rs.items():
            for failure in r.get("failures", []):
                print(f"FAILED {name}: {failure}")
    print(f"results: {args.out_dir}/results.json, table.md{', cdf.png' if png else ''} "
          f"({results['elapsed_s']} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
