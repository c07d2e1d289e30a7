#!/usr/bin/env bash
# Benchmark portaudit against ss, netstat and lsof, each scenario in a private network
# namespace of its own (root). See BENCHMARKS.md for what it measures and the results.
#
#   bench/run.sh                  every scenario
#   bench/run.sh conn0 conn100k   some of them: conn0 conn10k conn100k listen1000 procs1000
#
# Needs: python3, iproute2 (ip), ss, netstat (net-tools), lsof, GNU time (/usr/bin/time,
# for peak RSS). Traffic stays on the
# namespace's own loopback. Results: bench/results/<scenario>.json and a markdown table
# on stdout (bench/summarize.py).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: needs root (network namespaces)" >&2; exit 2; }
for tool in ip ss netstat lsof python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is missing" >&2; exit 2; }
done

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(conn0 conn10k conn100k listen1000 procs1000)

cargo build --release --locked -q
bin="$PWD/target/release/portaudit"
mkdir -p bench/results

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
        conn0)      load=(--listeners 20 --connections 0);      rounds=40 ;;
        conn10k)    load=(--listeners 20 --connections 10000);  rounds=30 ;;
        conn100k)   load=(--listeners 20 --connections 100000); rounds=9 ;;
        listen1000) load=(--listeners 1000);                    rounds=30 ;;
        procs1000)  load=(--listeners 20 --idle-procs 1000);    rounds=15 ;;
        *) echo "bench/run.sh: unknown scenario $scenario" >&2; exit 2 ;;
    esac
    ns="pa-bench-$$-$scenario"
    ready="$(mktemp -u /tmp/pa-bench-ready.XXXXXX)"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo "1024 65000" > /proc/sys/net/ipv4/ip_local_port_range
                               echo 4096 > /proc/sys/net/core/somaxconn'
    echo "== $scenario: building (${load[*]})" >&2
    ip netns exec "$ns" python3 bench/load.py "${load[@]}" --ready "$ready" &
    load_pid=$!
    while [ ! -s "$ready" ]; do
        kill -0 "$load_pid" 2>/dev/null || { echo "bench/run.sh: load.py died" >&2; exit 1; }
        sleep 0.2
    done
    echo "== $scenario: $(ip netns exec "$ns" ss -tan | wc -l) TCP sockets; timing" >&2
    ip netns exec "$ns" python3 bench/timeit.py "$rounds" 120 \
        "portaudit=$bin --color never" \
        "portaudit --no-processes=$bin --color never --no-processes" \
        "portaudit --collector proc=$bin --color never --collector proc" \
        "portaudit --collector proc --no-processes=$bin --color never --collector proc --no-processes" \
        "ss -ltn=ss -ltn" \
        "ss -ltnup=ss -ltnup" \
        "netstat -ltnup=netstat -ltnup" \
        "lsof -nP -iTCP -sTCP:LISTEN=lsof -nP -iTCP -sTCP:LISTEN" \
        "cat /proc/net/{tcp,tcp6,udp,udp6}=cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6" \
        "true (spawn cost)=true" \
        > "bench/results/$scenario.json"
    cleanup
done

python3 bench/summarize.py "${scenarios[@]}"
