#!/usr/bin/env python3
"""Turn the per-run files written by bench/run.sh into one markdown report.

    python3 bench/report.py RESULTS_DIR

RESULTS_DIR holds header.meta and, per run, TARGET-cN.meta (key=value lines),
TARGET-cN.wrk.txt (wrk --latency output) and, for sluice at c=1,
sluice-c1.overhead.txt (the OVERHEAD_US line printed by chat.lua's done()).
Standard library only.
"""

import os
import re
import sys

TARGET_ORDER = [
    "direct", "nginx", "sluice", "sluice-route", "sluice-governed", "sluice-governed-redis",
    "direct-anthropic", "sluice-translated",
]
# Each target's added latency is measured against the mock answering the same dialect.
BASELINE = {"sluice-translated": "direct-anthropic"}

# wrk prints durations as e.g. 52.10us, 1.23ms, 2.00s, 1.00m.
UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"unrecognised wrk duration {text!r}")
    return float(m.group(1)) * UNIT_US[m.group(2)]


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                meta[key] = value
    return meta


def parse_wrk(text):
    """requests/s, p50/p99 (µs), request count and error counts from wrk --latency output."""
    out = {"non2xx": 0, "socket": {}}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not m:
        raise ValueError("no Requests/sec line in wrk output")
    out["rps"] = float(m.group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", text, re.M)
        if not m:
            raise ValueError(f"no {pct}% line in wrk output (was --latency given?)")
        out[f"p{pct}"] = to_us(m.group(1))
    m = re.search(r"^\s+(\d+) requests in", text, re.M)
    out["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        names = ("connect", "read", "write", "timeout")
        out["socket"] = {n: int(v) for n, v in zip(names, m.groups()) if int(v)}
    return out


def parse_overhead(text):
    m = re.search(r"^OVERHEAD_US (.*)$", text, re.M)
    if not m:
        return None
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def fmt_int(x):
    return f"{x:,.0f}".replace(",", " ")


def errors_cell(w):
    parts = []
    if w["non2xx"]:
        parts.append(f"**non-2xx/3xx: {w['non2xx']}**")
    for name, n in w["socket"].items():
        parts.append(f"**socket {name}: {n}**")
    return ", ".join(parts) if parts else "0"


def other_load(meta):
    """CPU the rest of the machine used during the run, as % of one core: all busy time
    (from /proc/stat, steal included) minus wrk's, the mock's and the proxy's."""
    if "machine_busy_ticks" not in meta:
        return "?"
    tck = int(meta["clk_tck"])
    ours = (int(meta["mock_ticks"]) + int(meta.get("cpu_ticks", 0))) / tck
    ours += float(meta["wrk_cpu_s1"]) - float(meta["wrk_cpu_s0"])
    other = int(meta["machine_busy_ticks"]) / tck - ours
    return f"{max(0.0, 100 * other / meta['wall_s']):.0f}%"


def main():
    rdir = sys.argv[1]
    header = read_meta(os.path.join(rdir, "header.meta"))
    concs = [int(c) for c in header["concurrencies"].split()]
    targets = [t for t in TARGET_ORDER if t in header["targets"].split()]

    runs = {}
    for t in targets:
        for c in concs:
            base = os.path.join(rdir, f"{t}-c{c}")
            if not os.path.exists(base + ".meta"):
                continue
            meta = read_meta(base + ".meta")
            with open(base + ".wrk.txt") as f:
                w = parse_wrk(f.read())
            meta["wall_s"] = float(meta["t1"]) - float(meta["t0"])
            runs[(t, c)] = (meta, w)

    lc, pc = header["load_core"], header["proxy_core"]
    lines = []
    p = lines.append
    p("# Sluice load benchmark")
    p("")
    p(f"- date: {header['date']}; commit: {header['commit']}")
    p(f"- machine: {header['nproc']} cores ({header['cpu']}), kernel {header['kernel']}, "
      f"load average at start {header['loadavg']}")
    p(f"- tools: {header['wrk']}; nginx {header['nginx']}; {header['sluice']}")
    p(f"- each run: {header['warmup']} warm-up, then {header['duration']} measured; "
      f"`wrk -t1 -cN --latency`, fresh server processes per run")
    streamed = header.get("stream") == "1"
    p("- request: `POST /v1/chat/completions`, JSON body, `max_tokens: 16`"
      + (", `stream: true` (wrk times the whole stream)" if streamed else "")
      + "; model `gpt-4o-mini` (direct, nginx) or `bench/gpt-4o-mini` (sluice); "
      "direct-anthropic: `POST /v1/messages` to the mock's Anthropic dialect; "
      "sluice-translated: the OpenAI request for `claude/claude-bench`, a provider of "
      "kind anthropic on the same mock")
    p(f"- placement: c=1: wrk, mock and proxy all on core {lc}; c>1: proxy alone on "
      f"core {pc}, wrk and mock on core {lc} (direct: mock on core {pc}, wrk on core {lc}); "
      "nginx `worker_processes 1`, sluice and mock `TOKIO_WORKER_THREADS=1`")
    p("")
    p("| conc | target | req/s | p50 µs | p99 µs | +p50 vs its direct | proxy CPU s | "
      "CPU % of a core | CPU µs/req | peak RSS MiB | other load | errors |")
    p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in concs:
        for t in targets:
            if (t, c) not in runs:
                continue
            meta, w = runs[(t, c)]
            added = "—"
            direct = runs.get((BASELINE.get(t, "direct"), c))
            if not t.startswith("direct") and direct:
                added = f"{w['p50'] - direct[1]['p50']:+.0f}"
            cpu_s = pct = per_req = rss = "—"
            if "cpu_ticks" in meta:
                secs = int(meta["cpu_ticks"]) / int(meta["clk_tck"])
                cpu_s = f"{secs:.2f}"
                pct = f"{100 * secs / meta['wall_s']:.0f}%"
                if w["requests"]:
                    per_req = f"{1e6 * secs / w['requests']:.1f}"
                rss = f"{int(meta['hwm_kb']) / 1024:.1f}"
            p(f"| {c} | {t} | {fmt_int(w['rps'])} | {w['p50']:.0f} | {w['p99']:.0f} | "
              f"{added} | {cpu_s} | {pct} | {per_req} | {rss} | {other_load(meta)} | "
              f"{errors_cell(w)} |")
    p("")

    for c in concs:
        pairs = [runs.get((t, c)) for t in ("direct", "sluice", "direct-anthropic", "sluice-translated")]
        if all(pairs):
            through = pairs[1][1]["p50"] - pairs[0][1]["p50"]
            translated = pairs[3][1]["p50"] - pairs[2][1]["p50"]
            ratio = f"{translated / through:.2f}x" if through > 0 else "—"
            p(f"c={c}: added p50, translated {translated:+.0f} µs vs pass-through "
              f"{through:+.0f} µs = **{ratio}**")
    p("")

    # Each variant of the pass-through next to the plain one, as a ratio of added p50.
    variants = [
        ("sluice-route", "three-target latency route"),
        ("sluice-governed", "governed (virtual key, budgets and limits at every level, embedded store)"),
        ("sluice-governed-redis", "governed with Redis counters"),
    ]
    for target, label in variants:
        for c in concs:
            plain, variant, direct = (runs.get((t, c)) for t in ("sluice", target, "direct"))
            if plain and variant and direct:
                through = plain[1]["p50"] - direct[1]["p50"]
                added = variant[1]["p50"] - direct[1]["p50"]
                ratio = f"{added / through:.2f}x" if through > 0 else "—"
                p(f"c={c}: added p50, {label} {added:+.0f} µs vs pass-through "
                  f"{through:+.0f} µs = **{ratio}**")
        p("")

    for proxy in ("sluice", "sluice-route", "sluice-governed", "sluice-governed-redis", "sluice-translated"):
        ov_path = os.path.join(rdir, f"{proxy}-c1.overhead.txt")
        if not os.path.exists(ov_path):
            continue
        with open(ov_path) as f:
            ov = parse_overhead(f.read())
        how = (f"every response of a dedicated {header['overhead_duration']} wrk run at c=1 "
               "(placement as c=1 above), read by a Lua `response()` hook")
        if ov and ov.get("samples"):
            miss = f", {ov['missing']} responses without the header" if ov.get("missing") else ""
            p(f"**{proxy} `x-sluice-overhead-us`** ({how}; {fmt_int(ov['samples'])} samples{miss}): "
              f"median **{ov['p50']} µs**, p90 {ov['p90']} µs, p99 {ov['p99']} µs")
        else:
            p(f"**{proxy} `x-sluice-overhead-us`**: header not found in any response ({how})")
        p("")

    p("Where each process ran (allowed CPUs as reported by `taskset -cp` for each pid):")
    p("")
    for c in concs:
        for t in targets:
            if (t, c) in runs:
                p(f"- c={c} {t}: {runs[(t, c)][0]['where']}")
    p("")
    p("Columns: req/s, p50 and p99 from wrk; +p50 = the p50 minus direct's p50 at the same "
      "concurrency; proxy CPU = utime+stime of the proxy's processes (nginx: master+worker) "
      "during the measured run, also as a share of one core over the run's wall time and per "
      "request; peak RSS = VmHWM (nginx: master+worker summed); other load = CPU used by "
      "everything else on the machine during the run (busy time in /proc/stat, steal "
      "included, minus wrk, mock and proxy), as % of one core: well above a few % means "
      "the run shared its cores and is noisy; errors = wrk's non-2xx/3xx responses and "
      "socket errors.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
