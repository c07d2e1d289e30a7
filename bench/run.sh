#!/usr/bin/env bash
# Benchmark portaudit against ss, netstat and lsof, each scenario in a private network
# namespace of its own (root). See BENCHMARKS.md for what it measures and the results.
#
#   bench/run.sh                  every scenario
#   bench/run.sh conn0 conn100k   some of them: smallserver conn0 conn10k conn100k listen1000
#                                 procs100 procs1000 udp12k udp48k listen100k listen500k
#                                 netns10 netns100 netns100u kube5000
#                                 (netns100u: no process holds the listeners)
#   bench/run.sh kube5000         a Kubernetes node: 5,000 services through iptables-nft
#                                 (bench/kube.py, ~21k rules, 500 NodePorts), portaudit
#                                 against `nft -j list ruleset` alone
#   PA_BENCH_BASELINE=/path/to/an/older/portaudit bench/run.sh …
#                                 also time that binary in the same rounds (each
#                                 portaudit command twice, the older one labelled
#                                 "(baseline)"): before and after a change, one run
#   bench/plot.py                 the PNG plots of BENCHMARKS.md, from bench/results
#                                 (matplotlib, in a venv under target/: see plot.py)
#
# Needs: python3, iproute2 (ip), ss, netstat (net-tools), lsof, nft (nftables), GNU time
# (/usr/bin/time, for peak RSS); kube5000 also iptables-nft-restore (iptables). Traffic
# stays on the
# namespace's own loopback. Results: bench/results/<scenario>.json and a markdown table
# on stdout (bench/summarize.py).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: needs root (network namespaces)" >&2; exit 2; }
for tool in ip ss netstat lsof nft python3 taskset /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is missing" >&2; exit 2; }
done

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(smallserver conn0 conn10k conn100k listen1000 procs1000 udp48k netns100)

cargo build --release --locked -q
bin="$PWD/target/release/portaudit"
pa="$bin --color never --no-config"
mkdir -p bench/results

ns=""
load_pid=""
ready=""
extra_ns=()
cleanup() {
    if [ -n "$load_pid" ]; then kill "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; fi
    if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
    for n in "${extra_ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    if [ -n "$ready" ]; then rm -f "$ready"; fi
    load_pid="" ns="" ready="" extra_ns=()
}
trap cleanup EXIT

# Wait for the holder (pid $load_pid) to write $ready.
wait_ready() {
    while [ ! -s "$ready" ]; do
        kill -0 "$load_pid" 2>/dev/null || { echo "bench/run.sh: the load died" >&2; exit 1; }
        sleep 0.2
    done
}

# With PA_BENCH_BASELINE, each portaudit command of "$@" and its twin on that binary.
with_baseline() {
    local c
    for c in "$@"; do
        printf '%s\n' "$c"
        if [ -n "${PA_BENCH_BASELINE:-}" ] && [[ $c == portaudit* ]]; then
            local label=${c%%=*} line=${c#*=}
            printf '%s\n' "$label (baseline)=${line/$bin/$PA_BENCH_BASELINE}"
        fi
    done
}

# The commands every socket scenario times: portaudit's modes against ss, netstat, lsof.
tcp_commands=(
    "portaudit=$pa"
    "portaudit --no-processes=$pa --no-processes"
    "portaudit --collector proc=$pa --collector proc"
    "portaudit --collector proc --no-processes=$pa --collector proc --no-processes"
    "ss -ltn=ss -ltn"
    "ss -ltnup=ss -ltnup"
    "netstat -ltnup=netstat -ltnup"
    "lsof -nP -iTCP -sTCP:LISTEN=lsof -nP -iTCP -sTCP:LISTEN"
    "cat /proc/net/{tcp,tcp6,udp,udp6}=cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6"
    "true (spawn cost)=true"
)

for scenario in "${scenarios[@]}"; do
    commands=("${tcp_commands[@]}")
    nft="" nscount="" kube=""
    case "$scenario" in
        smallserver)
            load=(--listeners 20 --wildcard --udp 5); rounds=60; nft=bench/smallserver.nft
            commands=(
                "portaudit=$pa"
                "portaudit --no-firewall=$pa --no-firewall"
                "portaudit --no-processes=$pa --no-processes"
                "ss -ltnup=ss -ltnup"
                "ss -ltn=ss -ltn"
                "netstat -ltnup=netstat -ltnup"
                "lsof -nP -i=lsof -nP -i"
                "nft -j list ruleset=nft -j list ruleset"
                "true (spawn cost)=true"
            ) ;;
        kube5000)
            # The ruleset alone makes the difference: nft's JSON listing of ~21k rules
            # takes seconds, so few rounds (5, the least timeit.py runs).
            load=(--listeners 20 --wildcard --udp 5); rounds=5; kube=5000
            command -v iptables-nft-restore >/dev/null ||
                { echo "bench/run.sh: iptables-nft-restore is missing (Debian's iptables)" >&2; exit 2; }
            # One portaudit mode (a second or so a round; the ruleset dominates).
            commands=(
                "portaudit=$pa"
                "nft -j list ruleset=nft -j list ruleset"
                "ss -ltnup=ss -ltnup"
                "true (spawn cost)=true"
            ) ;;
        conn0)      load=(--listeners 20 --connections 0);      rounds=40 ;;
        conn10k)    load=(--listeners 20 --connections 10000);  rounds=30 ;;
        conn100k)   load=(--listeners 20 --connections 100000); rounds=9
            # On one core (taskset): the owner scan's cost per fd against ss -p's, without
            # portaudit's second thread.
            commands+=(
                "portaudit (1 core)=taskset -c 0 $pa"
                "ss -ltnup (1 core)=taskset -c 0 ss -ltnup"
            ) ;;
        listen1000) load=(--listeners 1000);                    rounds=30 ;;
        procs100)   load=(--listeners 20 --idle-procs 100);     rounds=15 ;;
        procs1000)  load=(--listeners 20 --idle-procs 1000);    rounds=15 ;;
        udp48k|udp12k)
            count=48000; [ "$scenario" = udp12k ] && count=12000
            load=(--listeners 0 --udp "$count" --udp-procs 3); rounds=7
            commands=()
            [ -n "${PA_BENCH_NO_TABLE:-}" ] || commands+=("portaudit=$pa")
            commands+=(
                "portaudit --json=$pa --json"
                "portaudit --no-processes=$pa --no-processes"
                "portaudit --json --no-processes=$pa --json --no-processes"
                "ss -lnup=ss -lnup"
                "ss -lnu=ss -lnu"
                "netstat -lnup=netstat -lnup"
                "lsof -nP -iUDP=lsof -nP -iUDP"
                "true (spawn cost)=true"
            ) ;;
        listen100k|listen500k)
            count=100000; [ "$scenario" = listen500k ] && count=500000
            load=(--listeners "$count"); rounds=5
            commands=()
            # PA_BENCH_NO_TABLE=1 leaves out the table run (minutes each while the table
            # is quadratic).
            [ -n "${PA_BENCH_NO_TABLE:-}" ] || commands+=("portaudit=$pa")
            commands+=(
                "portaudit --json=$pa --json"
                "portaudit --no-processes=$pa --no-processes"
                "ss -ltn=ss -ltn"
            )
            # PA_BENCH_NO_SS_P=1 leaves out ss -ltnp (minutes a run at 500k listeners).
            [ -n "${PA_BENCH_NO_SS_P:-}" ] || commands+=("ss -ltnp=ss -ltnp")
            commands+=("true (spawn cost)=true") ;;
        netns10|netns100)
            # 10 or 100 namespaces of our own with 2 listeners each, held by one process;
            # --all-netns sees every namespace on the host (the count is recorded).
            nscount=${scenario#netns}; load=(); rounds=15 ;;
        netns100u)
            # The same, the listeners held by no process (fds in flight): the owners'
            # step then reads every namespace's devices too (kernel-held sockets).
            nscount=100; load=(--in-flight); rounds=15 ;;
        *) echo "bench/run.sh: unknown scenario $scenario" >&2; exit 2 ;;
    esac
    ns="pa-bench-$$-$scenario"
    ready="$(mktemp -u /tmp/pa-bench-ready.XXXXXX)"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo "1024 65000" > /proc/sys/net/ipv4/ip_local_port_range
                               echo 4096 > /proc/sys/net/core/somaxconn'
    if [ -n "$nft" ]; then ip netns exec "$ns" nft -f "$nft"; fi
    if [ -n "$kube" ]; then
        python3 bench/kube.py --services "$kube" --nodeports $((kube / 10)) |
            ip netns exec "$ns" iptables-nft-restore
    fi
    if [ -n "${nscount:-}" ]; then
        for i in $(seq 1 "$nscount"); do
            extra_ns+=("pa-bench-$$-n$i")
            ip netns add "pa-bench-$$-n$i"
            ip -n "pa-bench-$$-n$i" link set lo up
        done
        echo "== $scenario: building ($nscount namespaces, 2 listeners each)" >&2
        python3 bench/netns.py "${load[@]}" 2 "$ready" "${extra_ns[@]}" &
        load_pid=$!
        wait_ready
        # (exit 2 when some other namespace cannot be read: still a count)
        seen=$({ "$bin" --no-config --all-netns --no-processes --json || true; } | python3 -c \
            'import json,sys; print(len(json.load(sys.stdin)["namespaces"]))')
        echo "== $scenario: --all-netns sees $seen namespaces; timing" >&2
        commands=(
            "portaudit --all-netns=$pa --all-netns"
            "portaudit --all-netns --no-processes=$pa --all-netns --no-processes"
            "portaudit=$pa"
            "portaudit --no-processes=$pa --no-processes"
            "ss -ltn=ss -ltn"
            "ss -ltnup=ss -ltnup"
            "true (spawn cost)=true"
        )
        mapfile -t commands < <(with_baseline "${commands[@]}")
        python3 bench/timeit.py "$rounds" 120 "${commands[@]}" \
            | python3 -c 'import json,sys; r=json.load(sys.stdin); r["_namespaces"]=int(sys.argv[1]); json.dump(r, sys.stdout)' "$seen" \
            > "bench/results/$scenario.json"
        cleanup
        continue
    fi
    if [ -n "${PA_BENCH_SS_ONLY:-}" ]; then
        # PA_BENCH_SS_ONLY=1: portaudit against ss alone (netstat -p and lsof take minutes
        # a round on a host with hundreds of thousands of open files).
        only=()
        for c in "${commands[@]}"; do
            case "$c" in netstat*|lsof*|cat*) ;; *) only+=("$c") ;; esac
        done
        commands=("${only[@]}")
    fi
    mapfile -t commands < <(with_baseline "${commands[@]}")
    echo "== $scenario: building (${load[*]})" >&2
    ip netns exec "$ns" python3 bench/load.py "${load[@]}" --ready "$ready" &
    load_pid=$!
    wait_ready
    echo "== $scenario: $(ip netns exec "$ns" ss -tan | wc -l) TCP, $(ip netns exec "$ns" ss -uan | wc -l) UDP sockets; timing" >&2
    ip netns exec "$ns" python3 bench/timeit.py "$rounds" "${PA_BENCH_BUDGET:-300}" "${commands[@]}" \
        > "bench/results/$scenario.json"
    cleanup
done

python3 bench/summarize.py "${scenarios[@]}"
