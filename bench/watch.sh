#!/usr/bin/env bash
# CPU per poll of `portaudit --watch`, each scenario in a private network namespace of
# its own (root), with ss as a peer in the same run. See BENCHMARKS.md, "Watch".
#
#   bench/watch.sh                  both scenarios: idle20 conn100k
#   bench/watch.sh conn100k         one of them
#
#   idle20    20 TCP listeners on 127.0.0.1, nothing else
#   conn100k  the same 20 listeners and 100,000 established loopback connections
#             (200,000 sockets: both ends are held)
#
# For each command, RUNS runs (default 3) of RUN_SECONDS (default 10): a watch polling
# every INTERVAL seconds (default 0.2) is started, left to settle, then the utime+stime
# of its process is read from /proc/PID/stat before and after RUN_SECONDS; the CPU per
# poll is that difference over the polls in between (RUN_SECONDS / INTERVAL: a
# steady-state poll takes far less than INTERVAL). "with children" adds cutime+cstime:
# the nft each poll runs to read the ruleset. ss is run ten times, one process per poll
# as a shell loop would, INTERVAL apart, and its CPU (getrusage of the children) is
# divided by ten. Medians of the runs are printed as a markdown table.
#
# Needs: python3, iproute2 (ip), ss; nft for the firewall column (else each poll warns).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/watch.sh: needs root (network namespaces)" >&2; exit 2; }
for tool in ip ss python3; do
    command -v "$tool" >/dev/null || { echo "bench/watch.sh: $tool is missing" >&2; exit 2; }
done

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(idle20 conn100k)
export RUNS="${RUNS:-3}" SECONDS_PER_RUN="${RUN_SECONDS:-10}" INTERVAL="${INTERVAL:-0.2}"

cargo build --release --locked -q
bin="$PWD/target/release/portaudit"

ns=""
load_pid=""
ready=""
cleanup() {
    if [ -n "$load_pid" ]; then kill "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; fi
    if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
    if [ -n "$ready" ]; then rm -f "$ready"; fi
    load_pid="" ns="" ready=""
}
trap cleanup EXIT

for scenario in "${scenarios[@]}"; do
    case "$scenario" in
        idle20)   load=(--listeners 20 --connections 0) ;;
        conn100k) load=(--listeners 20 --connections 100000) ;;
        *) echo "bench/watch.sh: unknown scenario $scenario" >&2; exit 2 ;;
    esac
    ns="pa-watch-$$-$scenario"
    ready="$(mktemp -u /tmp/pa-watch-ready.XXXXXX)"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo "1024 65000" > /proc/sys/net/ipv4/ip_local_port_range
                               echo 4096 > /proc/sys/net/core/somaxconn'
    echo "== $scenario: building (${load[*]})" >&2
    ip netns exec "$ns" python3 bench/load.py "${load[@]}" --ready "$ready" &
    load_pid=$!
    while [ ! -s "$ready" ]; do
        kill -0 "$load_pid" 2>/dev/null || { echo "bench/watch.sh: load.py died" >&2; exit 1; }
        sleep 0.2
    done
    sockets=$(ip netns exec "$ns" ss -tanH | wc -l)
    echo "== $scenario: $sockets TCP sockets; measuring" >&2
    ip netns exec "$ns" python3 - "$bin" "$scenario" "$sockets" <<'EOF'
import os, resource, statistics, subprocess, sys, time

binary, scenario, sockets = sys.argv[1], sys.argv[2], sys.argv[3]
runs, seconds = int(os.environ["RUNS"]), float(os.environ["SECONDS_PER_RUN"])
interval = float(os.environ["INTERVAL"])
polls = seconds / interval
tick = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    """utime+stime, and cutime+cstime, of `pid` in seconds (/proc/PID/stat 14-17)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    return own, children


def watch(extra):
    argv = [binary, "--watch", str(interval), "--color", "never", *extra]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdout.readline()  # the first poll's events: the listeners, as new
        time.sleep(2 * interval)  # the first poll's owner lookup is not a steady poll
        own0, kids0 = cpu(p.pid)
        time.sleep(seconds)
        own1, kids1 = cpu(p.pid)
    finally:
        p.terminate()
        p.wait()
    return (own1 - own0) * 1000 / polls, (own1 - own0 + kids1 - kids0) * 1000 / polls


def peer(argv):
    # Ten calls: getrusage counts in microseconds, and `ss -p` is slow on a busy host.
    calls = min(int(polls), 10)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(calls):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(interval)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used * 1000 / calls, None


commands = [
    ("portaudit --watch", lambda: watch([])),
    ("portaudit --watch --no-firewall", lambda: watch(["--no-firewall"])),
    ("portaudit --watch --no-processes --no-firewall", lambda: watch(["--no-processes", "--no-firewall"])),
    ("ss -ltn", lambda: peer(["ss", "-ltn"])),
    ("ss -ltnup", lambda: peer(["ss", "-ltnup"])),
]
results = {label: [] for label, _ in commands}
for run in range(runs):
    # Alternate: every command once per run, so a busy moment hits them all alike.
    for label, measure in commands:
        results[label].append(measure())
    print(f"   run {run + 1}/{runs} done", file=sys.stderr)

print(f"\n{scenario} ({sockets} TCP sockets; {runs} runs of {int(polls)} polls every {interval} s)\n")
print("| command | CPU per poll, own | with children (nft) |")
print("|---|---|---|")
for label, _ in commands:
    own = statistics.median(r[0] for r in results[label])
    kids = [r[1] for r in results[label] if r[1] is not None]
    with_kids = f"{statistics.median(kids):.2f} ms" if kids else "-"
    print(f"| `{label}` | {own:.2f} ms | {with_kids} |")
EOF
    cleanup
done
