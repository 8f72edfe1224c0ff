#!/usr/bin/env bash
# Load benchmark: wrk -> {mock directly, nginx -> mock, sluice -> mock} at fixed
# concurrency, every process pinned to a core. See bench/README.md.
#
#   bench/run.sh                          # full run: 10 s per run, 2 s warm-up
#   DURATION=3s WARMUP=1s bench/run.sh    # quick run
#
# Prints a markdown table and saves it to bench/out/latest.md (raw wrk output in
# bench/out/raw/). Only loopback traffic; every process it starts is stopped on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
OUT_DIR=$BENCH_DIR/out

# ---- settings (env) ----------------------------------------------------------
DURATION=${DURATION:-10s}             # measured part of each run (wrk -d)
WARMUP=${WARMUP:-2s}                  # unmeasured wrk run just before it
OVERHEAD_DURATION=${OVERHEAD_DURATION:-$DURATION}  # dedicated x-sluice-overhead-us run
CONCURRENCIES=${CONCURRENCIES:-"1 16 64"}
TARGETS=${TARGETS:-"direct nginx sluice"}  # also: direct-anthropic sluice-translated sluice-route sluice-governed sluice-governed-redis
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}   # for sluice-governed-redis
STREAM=${STREAM:-0}                   # 1: every request asks for an SSE stream
MOCK_PORT=${MOCK_PORT:-19090}
NGINX_PORT=${NGINX_PORT:-19091}
SLUICE_PORT=${SLUICE_PORT:-19092}
LOAD_CORE=${LOAD_CORE:-0}             # wrk + mock (and everything at c=1)
PROXY_CORE=${PROXY_CORE:-1}           # the proxy alone at c>1 (the mock, for direct)
SKIP_BUILD=${SKIP_BUILD:-0}           # 1: use the existing target/release/sluice
SLUICE_BIN=${SLUICE_BIN:-$REPO_DIR/target/release/sluice}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}

# The virtual key of bench/sluice-governed.yaml, sent by every target (the others
# ignore it), so every target gets the same request.
export SLUICE_BENCH_KEY=sk-sluice-benchbenchbenchbenchbenchbenchbenchbe
MODEL_DIRECT=gpt-4o-mini              # what the mock and nginx are asked for
MODEL_SLUICE=bench/gpt-4o-mini        # provider "bench" in bench/sluice.yaml
MODEL_ANTHROPIC=claude-bench          # the mock's Anthropic dialect, asked directly
MODEL_TRANSLATED=claude/claude-bench  # provider "claude" (kind anthropic) in bench/sluice.yaml
CHAT_PATH=/v1/chat/completions
MESSAGES_PATH=/v1/messages
LUA=$BENCH_DIR/chat.lua

# ---- process bookkeeping -----------------------------------------------------
WORK=""          # temp dir: configs, logs, per-run results
STARTED=()       # pids of every long-running process this script started

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# Stop what we started, by pid, gently then firmly. nginx's master stops its worker.
stop_started() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STARTED=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Children not in STARTED (a wrk or curl cut short by a signal): stop them too.
    local pid
    for pid in $(pgrep -P $$ 2>/dev/null || true); do
        [[ " ${STARTED[*]} " == *" $pid "* ]] || kill -TERM "$pid" 2>/dev/null || true
    done
    stop_started
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $rc -ne 0 ]]; then
            # Keep the logs of a failed run where they can be read.
            mkdir -p "$OUT_DIR"
            rm -rf "$OUT_DIR/failed-run"
            cp -r "$WORK" "$OUT_DIR/failed-run" 2>/dev/null || true
            log "logs of the failed run: $OUT_DIR/failed-run"
        fi
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'exit 143' TERM

# ---- set-up --------------------------------------------------------------------

# wrk and nginx from Debian packages when missing (fresh machine, run as root).
ensure_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v curl >/dev/null || missing+=(curl)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v python3 >/dev/null || missing+=(python3)
    [[ ${#missing[@]} -eq 0 ]] && return
    log "installing: ${missing[*]}"
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]} and not root: install them first"
    apt-get update
    local pkgs=("${missing[@]/nginx/nginx-light}")
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"; then
        # nginx-light is gone from newer Debian releases; plain nginx does as well.
        pkgs=("${missing[@]}")
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
    fi
    # Installing the package may start the system service; we do not use it, and
    # it would take port 80 and CPU. Leave it alone but warn.
    if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
        log "note: the nginx system service is running; the bench does not use it"
    fi
}

NGINX_BIN=""
find_nginx() {
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x $NGINX_BIN ]] || die "nginx not found"
}

build_sluice() {
    if [[ $SKIP_BUILD == 1 ]]; then
        log "SKIP_BUILD=1: using $SLUICE_BIN"
    else
        log "cargo build --release -p sluice (waits for the cargo lock if others build)"
        (cd "$REPO_DIR" && cargo build --release -p sluice) \
            || die "cargo build --release -p sluice failed"
    fi
    [[ -x $SLUICE_BIN ]] || die "no binary at $SLUICE_BIN"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports() {
    local p
    for p in "$MOCK_PORT" "$NGINX_PORT" "$SLUICE_PORT"; do
        port_in_use "$p" && die "port 127.0.0.1:$p is taken; set MOCK_PORT/NGINX_PORT/SLUICE_PORT"
    done
    return 0
}

# ---- starting the servers ------------------------------------------------------

# Wait until PORT accepts connections, failing early if PID died.
wait_port() {
    local port=$1 pid=$2 name=$3 logf=$4
    for _ in $(seq 200); do
        port_in_use "$port" && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "$name exited at start-up"; }
        sleep 0.05
    done
    cat "$logf" >&2
    die "$name did not listen on 127.0.0.1:$port within 10 s"
}

# Tokio's multi-thread runtime sizes its worker pool from TOKIO_WORKER_THREADS;
# each server process here is pinned to a single core, so one worker.
MOCK_PID=""
start_mock() {
    local core=$1
    taskset -c "$core" env TOKIO_WORKER_THREADS=1 SLUICE_LOG=warn \
        "$SLUICE_BIN" mock --listen "127.0.0.1:$MOCK_PORT" >"$WORK/mock.log" 2>&1 &
    MOCK_PID=$!
    STARTED+=("$MOCK_PID")
    wait_port "$MOCK_PORT" "$MOCK_PID" mock "$WORK/mock.log"
}

PROXY_PID=""     # the process whose children are also counted (nginx master)
start_nginx() {
    local core=$1 prefix=$WORK/nginx
    mkdir -p "$prefix"
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|g" \
        -e "s|@UPSTREAM@|127.0.0.1:$MOCK_PORT|g" "$BENCH_DIR/nginx.conf.in" >"$prefix/nginx.conf"
    # -e: the start-up error log, before the config's error_log is read (else
    # nginx tries /var/log/nginx/error.log). The worker inherits the affinity.
    taskset -c "$core" "$NGINX_BIN" -p "$prefix/" -c "$prefix/nginx.conf" \
        -e "$prefix/error.log" -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    wait_port "$NGINX_PORT" "$PROXY_PID" nginx "$prefix/error.log"
}

start_sluice() {   # core [config]
    local core=$1 config=${2:-$BENCH_DIR/sluice.yaml}
    taskset -c "$core" env TOKIO_WORKER_THREADS=1 SLUICE_LOG=warn \
        MOCK_URL="http://127.0.0.1:$MOCK_PORT/v1" MOCK_ROOT="http://127.0.0.1:$MOCK_PORT" \
        BENCH_STORE="sqlite://$WORK/governed-$RANDOM.db" \
        "$SLUICE_BIN" serve --config "$config" \
        --listen "127.0.0.1:$SLUICE_PORT" >"$WORK/sluice.log" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    wait_port "$SLUICE_PORT" "$PROXY_PID" sluice "$WORK/sluice.log"
}

# ---- measuring -------------------------------------------------------------------

# The proxy's processes: the pid itself plus its children (nginx's worker).
proxy_pids() { echo "$PROXY_PID" $(pgrep -P "$PROXY_PID" 2>/dev/null || true); }

# utime+stime (clock ticks, all threads) summed over the given pids. Fields are
# counted after the last ')' because the command name may contain spaces.
cpu_ticks() {
    local total=0 pid rest f
    for pid in "$@"; do
        rest=$(sed 's/.*) //' "/proc/$pid/stat")
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))   # fields 14 (utime) and 15 (stime)
    done
    echo "$total"
}

# Peak resident set (VmHWM, kB) summed over the given pids.
hwm_kb() {
    local total=0 pid v
    for pid in "$@"; do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# "name=pid@cpus ..." as the kernel sees it: where each process may run.
affinity_of() {
    local name=$1; shift
    local pid out=()
    for pid in "$@"; do
        out+=("$name[$pid]@$(taskset -cp "$pid" | sed 's/.*: //')")
    done
    echo "${out[*]}"
}

# The request body every target gets, in the client's dialect (chat.lua builds the same).
request_body() {   # model dialect
    local stream=false
    [[ $STREAM == 1 ]] && stream=true
    if [[ $2 == anthropic ]]; then
        echo "{\"model\":\"$1\",\"max_tokens\":16,\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Hello, how are you today?\"}]}"
    else
        echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello, how are you today?\"}],\"max_tokens\":16,\"stream\":$stream}"
    fi
}

request_path() { [[ $1 == anthropic ]] && echo "$MESSAGES_PATH" || echo "$CHAT_PATH"; }

# One request with curl; anything but HTTP 200 stops the bench with the body shown.
check_200() {
    local target=$1 url=$2 model=$3 dialect=$4 code path
    path=$(request_path "$dialect")
    code=$(curl -sS --max-time 5 -o "$WORK/check.body" -w '%{http_code}' \
        -H 'content-type: application/json' -H 'x-api-key: bench-key' \
        -H "authorization: Bearer $SLUICE_BENCH_KEY" \
        -H 'anthropic-version: 2023-06-01' \
        -d "$(request_body "$model" "$dialect")" \
        "$url$path") || code="curl-failed"
    if [[ $code != 200 ]]; then
        log "$target: POST $url$path (model $model) answered $code:"
        cat "$WORK/check.body" >&2 2>/dev/null || true; echo >&2
        for f in "$WORK"/*.log "$WORK"/nginx/error.log; do
            [[ -s $f ]] && { log "--- $f"; tail -n 20 "$f" >&2; }
        done
        die "$target does not answer 200; not benchmarking it"
    fi
    log "$target: check request -> 200"
}

WRK_WHERE=""      # wrk's allowed CPUs, read during the warm-up run
run_wrk() {   # core conc duration url model dialect outfile [overhead|warmup]
    local core=$1 conc=$2 dur=$3 url=$4 model=$5 dialect=$6 outf=$7 mode=${8:-}
    local lua_mode=$mode stream=-
    [[ $mode == warmup || -z $mode ]] && lua_mode=-
    [[ $STREAM == 1 ]] && stream=stream
    # In the background + `wait`: a Ctrl-C then interrupts `wait` and runs the trap
    # at once. (wrk in the foreground catches SIGINT and exits 0, and bash then
    # assumes the child handled the signal and carries on with the next run.)
    taskset -c "$core" wrk -t1 -c"$conc" -d"$dur" --timeout "$WRK_TIMEOUT" --latency \
        -s "$LUA" "$url$(request_path "$dialect")" -- "$model" "$lua_mode" "$dialect" "$stream" \
        >"$outf" 2>&1 &
    local pid=$!
    if [[ $mode == warmup ]]; then
        # Read where wrk may run from the kernel, in the warm-up (where the extra
        # wake-up costs nothing measured); after taskset has exec'd into wrk.
        sleep 0.2
        WRK_WHERE="wrk[$pid]@$(taskset -cp "$pid" 2>/dev/null | sed 's/.*: //')" \
            || WRK_WHERE="wrk@$core"
    fi
    wait "$pid" || { cat "$outf" >&2; die "wrk failed"; }
}

# The servers must have survived the run, else its figures mean nothing.
check_alive() {
    local pid
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK"/*.log >&2; die "process $pid exited during the run"; }
    done
}

now() { date +%s.%N; }

# Busy ticks of the whole machine (user nice system irq softirq steal) from /proc/stat:
# with our processes' ticks subtracted, what else ran during a run (noise).
machine_busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# CPU seconds of this shell's reaped children, from the `times` builtin (its second
# line). It must run in this shell, not in $(...): a forked subshell starts at zero.
# Between two calls only wrk is reaped, so the difference is wrk's CPU time.
children_cpu_s() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$1"; }

# One (target, concurrency) run on fresh processes, so the peak RSS is this run's.
bench_one() {
    local target=$1 conc=$2
    local wrk_core mock_core proxy_core url model dialect=openai
    if [[ $conc -eq 1 ]]; then
        # Latency: one core for all, so no request crosses cores.
        wrk_core=$LOAD_CORE; mock_core=$LOAD_CORE; proxy_core=$LOAD_CORE
    elif [[ $target == direct* ]]; then
        # Give the mock the core a proxy would have had.
        wrk_core=$LOAD_CORE; mock_core=$PROXY_CORE; proxy_core=""
    else
        # Throughput: the proxy alone on its core, load generator and mock on the other.
        wrk_core=$LOAD_CORE; mock_core=$LOAD_CORE; proxy_core=$PROXY_CORE
    fi

    start_mock "$mock_core"
    case $target in
        direct) url=http://127.0.0.1:$MOCK_PORT; model=$MODEL_DIRECT; PROXY_PID="" ;;
        nginx)  start_nginx "$proxy_core"; url=http://127.0.0.1:$NGINX_PORT; model=$MODEL_DIRECT ;;
        sluice) start_sluice "$proxy_core"; url=http://127.0.0.1:$SLUICE_PORT; model=$MODEL_SLUICE ;;
        direct-anthropic)
            url=http://127.0.0.1:$MOCK_PORT; model=$MODEL_ANTHROPIC; dialect=anthropic; PROXY_PID="" ;;
        sluice-translated)
            start_sluice "$proxy_core"; url=http://127.0.0.1:$SLUICE_PORT; model=$MODEL_TRANSLATED ;;
        sluice-route)
            start_sluice "$proxy_core"; url=http://127.0.0.1:$SLUICE_PORT; model=trio ;;
        sluice-governed)
            start_sluice "$proxy_core" "$BENCH_DIR/sluice-governed.yaml"
            url=http://127.0.0.1:$SLUICE_PORT; model=$MODEL_SLUICE ;;
        sluice-governed-redis)
            # The same config with its counters in Redis, under a prefix of this run.
            { cat "$BENCH_DIR/sluice-governed.yaml"
              echo "redis: {url: \"$REDIS_URL\", prefix: \"sluice-bench-$$-$RANDOM:\"}"
            } >"$WORK/sluice-governed-redis.yaml"
            start_sluice "$proxy_core" "$WORK/sluice-governed-redis.yaml"
            url=http://127.0.0.1:$SLUICE_PORT; model=$MODEL_SLUICE ;;
        *) die "unknown target $target" ;;
    esac
    check_200 "$target" "$url" "$model" "$dialect"

    local pids=() where
    [[ -n $PROXY_PID ]] && read -r -a pids <<<"$(proxy_pids)"
    local res=$WORK/results/$target-c$conc
    run_wrk "$wrk_core" "$conc" "$WARMUP" "$url" "$model" "$dialect" "$res.warmup.txt" warmup

    where="$WRK_WHERE $(affinity_of mock "$MOCK_PID")"
    [[ -n $PROXY_PID ]] && where+=" $(affinity_of "$target" "${pids[@]}")"
    log "$target c=$conc: $where"

    local t0 t1 cpu0=0 cpu1=0 mock0 busy0
    [[ -n $PROXY_PID ]] && cpu0=$(cpu_ticks "${pids[@]}")
    mock0=$(cpu_ticks "$MOCK_PID")
    busy0=$(machine_busy_ticks)
    times >"$WORK/times0"
    t0=$(now)
    run_wrk "$wrk_core" "$conc" "$DURATION" "$url" "$model" "$dialect" "$res.wrk.txt"
    t1=$(now)
    times >"$WORK/times1"
    check_alive "$MOCK_PID" "${pids[@]}"
    {
        echo "target=$target"
        echo "clk_tck=$(getconf CLK_TCK)"
        echo "conc=$conc"
        echo "where=$where"
        echo "t0=$t0"
        echo "t1=$t1"
        echo "machine_busy_ticks=$(( $(machine_busy_ticks) - busy0 ))"
        echo "mock_ticks=$(( $(cpu_ticks "$MOCK_PID") - mock0 ))"
        echo "wrk_cpu_s0=$(children_cpu_s "$WORK/times0")"
        echo "wrk_cpu_s1=$(children_cpu_s "$WORK/times1")"
        if [[ -n $PROXY_PID ]]; then
            cpu1=$(cpu_ticks "${pids[@]}")
            echo "cpu_ticks=$((cpu1 - cpu0))"
            echo "hwm_kb=$(hwm_kb "${pids[@]}")"
            echo "nprocs=${#pids[@]}"
        fi
    } >"$res.meta"

    # The overhead header, in a run of its own (the Lua hook slows wrk down).
    if [[ $target == sluice* && $conc -eq 1 ]]; then
        log "$target c=1: collecting x-sluice-overhead-us for $OVERHEAD_DURATION"
        run_wrk "$wrk_core" 1 "$OVERHEAD_DURATION" "$url" "$model" "$dialect" "$res.overhead.txt" overhead
    fi
    stop_started
}

# ---- main --------------------------------------------------------------------------
main() {
    ensure_tools
    find_nginx
    build_sluice
    check_ports
    if [[ $(nproc) -lt 2 && $PROXY_CORE != "$LOAD_CORE" ]]; then
        log "only $(nproc) core: running everything on core $LOAD_CORE"
        PROXY_CORE=$LOAD_CORE
    fi

    WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
    chmod 755 "$WORK"     # nginx's worker (user nobody) must reach its temp paths
    mkdir -p "$WORK/results" "$OUT_DIR"

    local commit
    if commit=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null); then
        [[ -n $(git -C "$REPO_DIR" status --porcelain 2>/dev/null | head -1) ]] && commit+=" (+ uncommitted changes)"
    else
        commit=uncommitted
    fi
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "commit=$commit"
        echo "nproc=$(nproc)"
        echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
        echo "kernel=$(uname -r)"
        echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "duration=$DURATION"
        echo "warmup=$WARMUP"
        echo "overhead_duration=$OVERHEAD_DURATION"
        echo "load_core=$LOAD_CORE"
        echo "proxy_core=$PROXY_CORE"
        echo "wrk=$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-3)"
        echo "nginx=$("$NGINX_BIN" -v 2>&1 | sed 's/.*: //')"
        echo "sluice=$("$SLUICE_BIN" --version 2>/dev/null || echo '?')"
        echo "concurrencies=$CONCURRENCIES"
        echo "targets=$TARGETS"
        echo "stream=$STREAM"
    } >"$WORK/results/header.meta"

    local target conc
    for target in $TARGETS; do
        for conc in $CONCURRENCIES; do
            log "== $target, concurrency $conc: ${WARMUP} warm-up + ${DURATION}"
            bench_one "$target" "$conc"
        done
    done

    python3 "$BENCH_DIR/report.py" "$WORK/results" >"$OUT_DIR/latest.md"
    rm -rf "$OUT_DIR/raw" "$OUT_DIR/failed-run" && cp -r "$WORK/results" "$OUT_DIR/raw"
    cat "$OUT_DIR/latest.md"
    log "saved to $OUT_DIR/latest.md (raw wrk output: $OUT_DIR/raw/)"
}

main "$@"
