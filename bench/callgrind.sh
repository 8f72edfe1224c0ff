#!/usr/bin/env bash
# Instructions per request through the gateway, counted by valgrind's callgrind.
# Counts, not seconds: the same binary, config and requests give the same figure however
# busy the machine is, which makes before/after comparisons of the hot path exact where
# bench/run.sh's latencies are noisy. (Instructions are not time: a syscall or a lock
# wait costs far more than its count says; use both.) Work driven by the clock rather
# than by requests does count: with governance on, the records' reload each second and
# the ledger flush move the figure by about ±1k per request, more on a busy machine
# (valgrind runs slower there, so more seconds pass per request). The measured part
# starts SETTLE seconds after the warm-up, so that work begun at start (the tokenizers'
# loading) is over.
#
#   bench/callgrind.sh                                  # pass-through, bench/sluice.yaml
#   CONFIG=bench/sluice-governed.yaml bench/callgrind.sh
#   REQUESTS=2000 MODEL=trio bench/callgrind.sh
#
# Prints instructions per request and the top functions (inclusive); the raw profile is
# left in bench/out/callgrind.out.1 for callgrind_annotate.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
CONFIG=${CONFIG:-$BENCH_DIR/sluice.yaml}
MODEL=${MODEL:-bench/gpt-4o-mini}
REQUESTS=${REQUESTS:-1000}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-200}
SLUICE_BIN=${SLUICE_BIN:-$REPO_DIR/target/release/sluice}
MOCK_PORT=${MOCK_PORT:-19190}
SLUICE_PORT=${SLUICE_PORT:-19192}
OUT=$BENCH_DIR/out/callgrind.out
export SLUICE_BENCH_KEY=${SLUICE_BENCH_KEY:-sk-sluice-benchbenchbenchbenchbenchbenchbenchbe}

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[[ -x $SLUICE_BIN ]] || { echo "no binary at $SLUICE_BIN (cargo build --release -p sluice)" >&2; exit 1; }
mkdir -p "$BENCH_DIR/out"
rm -f "$OUT" "$OUT".*
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    exit 1
}

TOKIO_WORKER_THREADS=1 SLUICE_LOG=warn "$SLUICE_BIN" mock --listen "127.0.0.1:$MOCK_PORT" \
    >"$WORK/mock.log" 2>&1 &
PIDS+=($!)
wait_port "$MOCK_PORT"

TOKIO_WORKER_THREADS=1 SLUICE_LOG=warn MOCK_URL="http://127.0.0.1:$MOCK_PORT/v1" \
    MOCK_ROOT="http://127.0.0.1:$MOCK_PORT" BENCH_STORE="sqlite://$WORK/governed.db" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
    "$SLUICE_BIN" serve --config "$CONFIG" --listen "127.0.0.1:$SLUICE_PORT" \
    >"$WORK/sluice.log" 2>&1 &
GATEWAY=$!
PIDS+=("$GATEWAY")
wait_port "$SLUICE_PORT"

# One keep-alive connection, one request at a time: the same body as bench/chat.lua.
drive() {
    python3 - "$SLUICE_PORT" "$MODEL" "$1" <<'PY'
import http.client, json, os, sys
port, model, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = json.dumps({"model": model, "max_tokens": 16,
                   "messages": [{"role": "user", "content": "Hello, how are you today?"}]})
headers = {"Content-Type": "application/json",
           "Authorization": "Bearer " + os.environ["SLUICE_BENCH_KEY"]}
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    conn.request("POST", "/v1/chat/completions", body, headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"status {response.status}")
PY
}

drive "$WARMUP_REQUESTS"
sleep "${SETTLE:-3}"
callgrind_control -i on "$GATEWAY" >/dev/null
drive "$REQUESTS"
callgrind_control -i off "$GATEWAY" >/dev/null
# The dump of the measured part is $OUT.1 (the one at exit, $OUT, holds nothing).
callgrind_control -d "$GATEWAY" >/dev/null
for _ in $(seq 50); do [[ -s $OUT.1 ]] && break; sleep 0.2; done
sleep 0.5

total=$(callgrind_annotate "$OUT.1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen {gsub(",", "", $1); print $1; seen = 1}')
echo "instructions per request: $((total / REQUESTS))  ($total over $REQUESTS requests, $(basename "$CONFIG"), $MODEL)"
# Work driven by the clock, not by requests: governance's periodic tasks (the records'
# reload each second; every 50 ms the ledger rows to the spend writer and the counters'
# batch) and the ledger's flush, on the runtime, and
# SQLite's worker thread. Valgrind is slow, so more seconds (and more of this work) fall
# into the measured part than under real load; the figure without it is the one to
# compare. The pass-through has none.
background=$(callgrind_annotate --inclusive=yes --threshold=100 "$OUT.1" 2>/dev/null | awk '
    { gsub(",", "", $1) }
    / \[/ && /governor::every::\{\{closure\}\} \[/ { every = every > $1 ? every : $1 }
    / \[/ && /SpendWriter::start::\{\{closure\}\} \[/ { flush = flush > $1 ? flush : $1 }
    /sqlx-sqlite.*worker\.rs:std::sys::backtrace::__rust_begin_short_backtrace/ { sqlite = sqlite > $1 ? sqlite : $1 }
    END { print every + flush + sqlite + 0 }')
echo "  of which clock-driven (periodic tasks, SQLite's thread): $((background / REQUESTS)) per request; request path: $(((total - background) / REQUESTS))"
callgrind_annotate --inclusive=yes "$OUT.1" 2>/dev/null | sed -n '/file:function/,$p' | head -"${TOP:-40}" || true
