#!/usr/bin/env bash
# Runs every benchmark BENCH_RUNS times (default 3) and writes one dated table,
# benches/results/<UTC date>-<commit>.md: the machine (nproc, CPU model, kernel, load before and
# after), the commit, each bench's SETTINGS lines and, per RESULT line, the value of every run,
# the median and the spread ((max - min) / median). BENCHMARKS.md quotes these files only.
#
#   scripts/bench.sh                  # full size (about 25 minutes on 2 cores, after the build)
#   BENCH_QUICK=1 scripts/bench.sh    # short runs that check the machinery (a few minutes)
#   BENCH_ONLY="pipeline queue" scripts/bench.sh   # a subset (names below; peers = the peer crate)
#   BENCH_PEERS=0 scripts/bench.sh    # without the peer comparison (it builds apalis first)
#
# PostgreSQL figures need PostgreSQL server binaries (/usr/lib/postgresql/*/bin) or DATABASE_URL;
# each bench starts a throwaway server (fsync=off, synchronous_commit=off; the SETTINGS lines
# read the settings back from the server) unless DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-3}
quick=${BENCH_QUICK:-0}
all="pipeline queue webhook_load peers sending voice soak"
only=${BENCH_ONLY:-$all}
if [ "${BENCH_PEERS:-1}" = 0 ]; then
  only=$(echo "$only" | tr ' ' '\n' | grep -vx peers | tr '\n' ' ')
fi

if [ "$quick" = 1 ]; then
  mode=quick
  export PIPELINE_BENCH_ROUNDS=${PIPELINE_BENCH_ROUNDS:-3} PIPELINE_BENCH_N=${PIPELINE_BENCH_N:-1000}
  export QUEUE_BENCH_JOBS=${QUEUE_BENCH_JOBS:-300} QUEUE_BENCH_ROUNDS=${QUEUE_BENCH_ROUNDS:-1}
  export WEBHOOK_LOAD_REQUESTS=${WEBHOOK_LOAD_REQUESTS:-2000} WEBHOOK_LOAD_SWEEP_SECS=${WEBHOOK_LOAD_SWEEP_SECS:-1}
  export PEERS_JOBS=${PEERS_JOBS:-300} PEERS_ROUNDS=${PEERS_ROUNDS:-1}
  export SOAK_JOBS=${SOAK_JOBS:-1000}
else
  mode=full
  # The soak's memory figure is flat well before its default 100,000 submissions (about six
  # minutes a run); three runs of 10,000 keep the whole script near 25 minutes.
  export SOAK_JOBS=${SOAK_JOBS:-10000}
fi

commit=$(git rev-parse --short=10 HEAD)
if ! git diff --quiet HEAD -- . 2>/dev/null; then commit="$commit-dirty"; fi
stamp=$(date -u +%Y-%m-%dT%H%M)
out_dir=benches/results
mkdir -p "$out_dir"
out="$out_dir/$stamp-$commit.md"
logs=$(mktemp -d)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "building benches (release) ..."
# Build once and run the binaries themselves: `cargo bench` between runs would rebuild whatever
# changed in the work tree meanwhile and measure a different commit.
bench_targets=""
for b in $only; do
  [ "$b" = peers ] || bench_targets="$bench_targets --bench $b"
done
if [ -n "$bench_targets" ]; then
  # shellcheck disable=SC2086
  cargo bench --no-run --message-format=json $bench_targets >"$logs/build.json" 2>"$logs/build.log" \
    || { tail -30 "$logs/build.log"; exit 1; }
  python3 - "$logs/build.json" >"$logs/binaries" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
PY
fi
if echo " $only " | grep -q " peers "; then
  (cd benches/peers && env -u DATABASE_URL cargo build --release) >"$logs/build-peers.log" 2>&1 \
    || { tail -30 "$logs/build-peers.log"; exit 1; }
  echo "peers $PWD/benches/peers/target/release/salesagent-peers-bench" >>"$logs/binaries"
fi

start=$(date -u +%H:%M)
status=()
for b in $only; do
  for r in $(seq 1 "$runs"); do
    echo "$b run $r/$runs ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
    set +e
    bin=$(awk -v b="$b" '$1 == b { print $2 }' "$logs/binaries" | tail -1)
    if [ -z "$bin" ]; then
      echo "no binary for $b" >"$logs/$b.$r.err"
      rc=127
    else
      "$bin" >"$logs/$b.$r.log" 2>"$logs/$b.$r.err"
      rc=$?
    fi
    set -e
    if [ $rc -ne 0 ]; then
      status+=("$b run $r: exit $rc: $(tail -3 "$logs/$b.$r.err" | tr '\n' ' ')")
    fi
  done
done
end=$(date -u +%H:%M)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "# Benchmark run $stamp ($mode)"
  echo
  echo "- commit: \`$commit\`"
  echo "- machine: nproc $(nproc), $cpu, kernel $(uname -r)"
  echo "- toolchain: $(rustc --version)"
  echo "- measured $start-$end UTC; load average (1/5/15 min) before: $load_before, after: $load_after"
  echo "- runs per bench: $runs; benches: $only"
  echo "- other processes on the machine were not controlled: compare ratios (each measured against"
  echo "  its baseline or peer in the same run), not absolute rates, across machines"
  if [ ${#status[@]} -gt 0 ]; then
    echo "- FAILED runs:"
    for s in "${status[@]}"; do echo "  - $s"; done
  fi
  echo
  python3 - "$logs" "$runs" $only <<'PY'
import re, statistics, sys
logs, runs, benches = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for b in benches:
    print(f"## {b}\n")
    settings, order, values, units = [], [], {}, {}
    for r in range(1, runs + 1):
        try:
            lines = open(f"{logs}/{b}.{r}.log", encoding="utf-8", errors="replace").read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            if line.startswith("SETTINGS ") and r == 1:
                settings.append(line[len("SETTINGS "):])
            m = re.match(r"RESULT (\S+) (\S+) ?(.*)$", line)
            if m:
                name, value, unit = m.groups()
                if name not in values:
                    order.append(name)
                    values[name] = {}
                    units[name] = unit
                values[name][r] = value
    for s in settings:
        print(f"- settings: {s}")
    if settings:
        print()
    head = " | ".join(f"run {r}" for r in range(1, runs + 1))
    print(f"| figure | unit | {head} | median | spread |")
    print("|---|---|" + "---|" * runs + "---|---|")
    for name in order:
        vals = [values[name].get(r, "") for r in range(1, runs + 1)]
        nums = []
        for v in vals:
            try:
                nums.append(float(v))
            except ValueError:
                pass
        med = statistics.median(nums) if nums else float("nan")
        spread = (max(nums) - min(nums)) / abs(med) * 100 if len(nums) > 1 and med else 0.0
        fmt = lambda x: f"{x:.0f}" if abs(x) >= 1000 else f"{x:.4g}"
        print(f"| {name} | {units[name]} | " + " | ".join(vals) + f" | {fmt(med)} | {spread:.0f} % |")
    print()
PY
} >"$out"
echo "wrote $out"
if [ ${#status[@]} -gt 0 ]; then
  printf '%s\n' "${status[@]}" >&2
  exit 1
fi
