#!/bin/sh
# The table at scale: SOCKETS unconnected UDP listeners on 0.0.0.0 (explicit ports from
# 1100, so most are exposed and the summary lists them all), held by PROCS processes
# (a process may hold 20,000 fds here), in a throw-away network namespace. Runs portaudit's
# table, its JSON and `ss -lnup` alternately ROUNDS times; prints each one's median wall
# time, its ratio to ss, and its largest peak RSS. Root; needs python3 and GNU time.
#
#   sudo bench/table-udp.sh [PORTAUDIT]     (default: target/release/portaudit)
#   SOCKETS=48000 PROCS=3 ROUNDS=5
set -eu

bin=$(realpath "${1:-target/release/portaudit}")
sockets=${SOCKETS:-48000}
procs=${PROCS:-3}
rounds=${ROUNDS:-5}
ns=portaudit-table-bench-$$
dir=$(mktemp -d)
holder=

cleanup() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
cat >"$dir/hold.py" <<'EOF'
import os, resource, signal, socket, sys
n, procs, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
per = (n + procs - 1) // procs
kids = []
for k in range(procs):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        held = []
        for i in range(k * per, min(n, (k + 1) * per)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 1100 + i))
            held.append(s)
        os.write(w, b"x")
        signal.pause()
        os._exit(0)
    os.read(r, 1)
    kids.append(pid)
def stop(*_):
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(ready, "w").write("ready")
signal.pause()
EOF
ip netns exec "$ns" python3 "$dir/hold.py" "$sockets" "$procs" "$dir/ready" &
holder=$!
while [ ! -s "$dir/ready" ]; do sleep 0.2; done
echo "$(ip netns exec "$ns" ss -lnu | tail -n +2 | wc -l) UDP listeners in $ns"

run() { # NAME COMMAND...: one timed run, appended to $dir/NAME
    name=$1
    shift
    /usr/bin/time -f "%e %M" -a -o "$dir/$name" ip netns exec "$ns" "$@" >/dev/null 2>&1 || true
}
i=0
while [ "$i" -lt "$rounds" ]; do
    run ss ss -lnup
    run table "$bin" --color never
    run json "$bin" --json
    i=$((i + 1))
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { grep -v exited "$dir/$1" | cut -d' ' -f"$2"; } # GNU time notes exit 1 there
ss_median=$(field ss 1 | median)
printf '%-18s %10s %8s %12s\n' scenario "median s" "vs ss" "peak RSS MiB"
for name in ss table json; do
    m=$(field "$name" 1 | median)
    rss=$(field "$name" 2 | sort -n | tail -1)
    printf '%-18s %10s %8s %12s\n' "$name" "$m" \
        "$(awk -v a="$m" -v b="$ss_median" 'BEGIN { printf "%.2fx", a / b }')" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
done
