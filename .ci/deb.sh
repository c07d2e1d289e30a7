#!/usr/bin/env bash
# CI: the Debian package, for real. Builds it with cargo-deb, checks its files, installs
# it with dpkg, runs the installed portaudit (an audit of this host, the man pages, the
# textfile service's command as systemd would run it), then removes and purges it and
# checks that nothing is left. Runs as root on a fresh machine: installs cargo-deb itself.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo ".ci/deb.sh: $*"; }
fail() {
    echo ".ci/deb.sh: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
for tool in dpkg dpkg-deb python3 setpriv; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing"
done
if ! command -v man >/dev/null 2>&1 || ! command -v groff >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db groff-base >/dev/null
fi

# 3.8.0 builds with Rust 1.85 and later (`cargo info cargo-deb`).
if ! command -v cargo-deb >/dev/null 2>&1; then
    cargo install --locked cargo-deb --version 3.8.0
fi

if dpkg -s portaudit >/dev/null 2>&1; then
    fail "portaudit is already installed here; this test would remove it (dpkg -P portaudit first)"
fi

# --- build -------------------------------------------------------------------------
start=$(date +%s)
deb=$(cargo deb -- --locked | tail -n 1)
say "cargo deb took $(($(date +%s) - start)) s: $deb"
[ -f "$deb" ] || fail "cargo deb made no package ($deb)"

# --- contents ----------------------------------------------------------------------
files=(
    /usr/bin/portaudit
    /usr/share/man/man1/portaudit.1.gz
    /usr/share/man/man5/portaudit.toml.5.gz
    /usr/share/bash-completion/completions/portaudit
    /usr/share/zsh/vendor-completions/_portaudit
    /usr/share/fish/vendor_completions.d/portaudit.fish
    /usr/share/doc/portaudit/examples/portaudit.toml
    /usr/share/doc/portaudit/copyright
    /usr/lib/systemd/system/portaudit-textfile.service
    /usr/lib/systemd/system/portaudit-textfile.timer
    /usr/lib/systemd/system/portaudit-watch.service
)
# The Prometheus alert rules.
files+=(/usr/share/doc/portaudit/examples/prometheus/portaudit.rules.yml)
# The documentation README.md links to, beside it.
files+=(/usr/share/doc/portaudit/README.md /usr/share/doc/portaudit/docs/policy.md)
listing=$(dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's,^\./,/,')
for f in "${files[@]}"; do
    grep -qxF "$f" <<<"$listing" || fail "$f is not in the package"
done
# No active policy, nothing in /etc: installing must not change any verdict.
if grep -q '^/etc' <<<"$listing"; then
    fail "the package installs files in /etc: $(grep '^/etc' <<<"$listing" | tr '\n' ' ')"
fi
# Installed disabled: the maintainer scripts start nothing, and enable a unit only where
# the admin had enabled it before (`if deb-systemd-helper was-enabled`, for upgrades).
scripts=$(mktemp -d)
trap 'rm -rf "$scripts"' EXIT
dpkg-deb -e "$deb" "$scripts"
! grep -q 'deb-systemd-invoke start' "$scripts"/postinst || fail "postinst starts a unit"
[ "$(grep -c 'deb-systemd-helper enable' "$scripts"/postinst)" = \
    "$(grep -c 'deb-systemd-helper --quiet was-enabled' "$scripts"/postinst)" ] ||
    fail "postinst enables a unit the admin did not enable"
# The bash completion is loaded only by the bash-completion package.
dpkg-deb -f "$deb" Recommends | grep -qw bash-completion || fail "the package does not recommend bash-completion"
say "$(grep -c . <<<"$listing") paths in the package, all expected files there"

# --- install -----------------------------------------------------------------------
cleanup() {
    rm -rf "$scripts"
    dpkg -s portaudit >/dev/null 2>&1 && dpkg -P portaudit >/dev/null 2>&1 || true
    [ -n "${made_textfile_dir:-}" ] && rm -rf /var/lib/prometheus/node-exporter &&
        rmdir /var/lib/prometheus 2>/dev/null || true
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null

version=$(/usr/bin/portaudit --version)
[ "$version" = "portaudit $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" ] ||
    fail "/usr/bin/portaudit --version says $version"
rc=0
/usr/bin/portaudit --no-firewall >/dev/null || rc=$?
# 0 or 1 depend on this host; 2 would mean it could not audit.
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "/usr/bin/portaudit exited $rc"
say "installed: $version, an audit of this host exits $rc"
[ ! -e /etc/portaudit ] || fail "/etc/portaudit exists after install"
# The baseline's documented place exists, root's alone, and the documented commands work.
[ "$(stat -c '%a %U %G' /var/lib/portaudit 2>&1)" = "700 root root" ] ||
    fail "/var/lib/portaudit: $(stat -c '%a %U %G' /var/lib/portaudit 2>&1), not 700 root root"
# (Exit 0 or 1, the audit's verdict, as for any audit; 2 would mean it could not save.)
rc=0
/usr/bin/portaudit --no-firewall --save-baseline /var/lib/portaudit/baseline.json >/dev/null ||
    rc=$?
[ "$rc" -le 1 ] && [ -s /var/lib/portaudit/baseline.json ] ||
    fail "--save-baseline /var/lib/portaudit/baseline.json after install exited $rc"
rc=0
/usr/bin/portaudit --no-firewall --baseline /var/lib/portaudit/baseline.json >/dev/null || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "--baseline /var/lib/portaudit/baseline.json exited $rc"
say "/var/lib/portaudit is 0700 root root; a baseline saved there is read back"

# Man pages: found by man, rendered without a groff warning, with their sections.
for page in portaudit portaudit.toml; do
    path=$(man -w "$page") || fail "man -w $page finds nothing"
    zcat "$path" >/dev/null || fail "$path is not gzip"
    warnings=$(MANWIDTH=80 man --warnings -l "$path" 2>&1 >/dev/null) || true
    [ -z "$warnings" ] || fail "man $page: $warnings"
done
text=$(MANWIDTH=80 man -l /usr/share/man/man1/portaudit.1.gz 2>/dev/null)
for section in SYNOPSIS OPTIONS "EXIT STATUS" FILES ENVIRONMENT EXAMPLES; do
    grep -q "^$section" <<<"$text" || fail "portaudit(1) has no $section"
done
grep -qE -- '--allow +SPEC' <<<"$text" || fail "portaudit(1)'s synopsis shows no arguments"
text=$(MANWIDTH=80 man -l /usr/share/man/man5/portaudit.toml.5.gz 2>/dev/null)
for section in SETTINGS RULES EXAMPLES; do
    grep -q "^$section" <<<"$text" || fail "portaudit.toml(5) has no $section"
done
bash -c 'source /usr/share/bash-completion/completions/portaudit && complete -p portaudit' \
    >/dev/null || fail "the bash completion does not load"
# The units: valid, and as hardened as the audit allows. systemd-analyze security rates
# a unit's exposure from 0 (locked down) to 10; ours are 2.3 with systemd 252. What keeps
# them from 0 is what the audit needs (root, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH,
# CAP_NET_ADMIN, netlink) or what would make it see less and call that clean
# (PrivateNetwork=, ProtectProc=, PrivateUsers=, PrivateTmp=): see the units' comments.
units=(/usr/lib/systemd/system/portaudit-textfile.{service,timer}
    /usr/lib/systemd/system/portaudit-watch.service)
command -v systemd-analyze >/dev/null 2>&1 || fail "systemd-analyze is missing (systemd)"
systemd-analyze verify "${units[@]}" || fail "systemd-analyze verify"
for unit in /usr/lib/systemd/system/portaudit-{textfile,watch}.service; do
    report=$(systemd-analyze security --offline=yes "$unit" 2>&1) ||
        fail "systemd-analyze security $unit: $report"
    score=$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$report")
    [ -n "$score" ] || fail "no exposure level for $unit in: $report"
    say "$(basename "$unit"): exposure $score (systemd-analyze security --offline=yes)"
    # 3.0 leaves room for what a newer systemd counts; a unit that loses its hardening
    # (e.g. ProtectSystem=, the capability bounding set) goes above it.
    awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "$unit: exposure $score > 3.0"
    # And the directives the issue asked for, with the bounds from BENCHMARKS.md.
    for line in PrivateDevices=yes MemoryMax= ProtectSystem=strict NoNewPrivileges=yes; do
        grep -q "^$line" "$unit" || fail "$unit has no $line"
    done
    for absent in PrivateNetwork= ProtectProc= ProcSubset= PrivateUsers= DynamicUser= \
        PrivateTmp=; do
        ! grep -q "^$absent" "$unit" || fail "$unit sets $absent, which hides listeners"
    done
done
grep -q '^TimeoutStartSec=' /usr/lib/systemd/system/portaudit-textfile.service ||
    fail "portaudit-textfile.service has no TimeoutStartSec="
if ls /etc/systemd/system/*/portaudit-* >/dev/null 2>&1; then
    fail "a unit is enabled after install: $(ls /etc/systemd/system/*/portaudit-*)"
fi
say "man pages render, completions load, units verify and are not enabled"

# --- the textfile service, by hand -------------------------------------------------
# systemd is not PID 1 on CI machines, so run its ExecStart= as the unit would: the
# unit's capability bounding set, no new privileges, its umask, systemd's default PATH,
# and its SuccessExitStatus= (exit 1, something exposed, is a result).
unit=/usr/lib/systemd/system/portaudit-textfile.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
success_status=$(sed -n 's/^SuccessExitStatus=//p' "$unit")
umask_of_unit=$(sed -n 's/^UMask=//p' "$unit")
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' |
    sed 's/cap_/+/g; s/ /,/g')
as_unit() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        setpriv --bounding-set "-all,$caps" --no-new-privs -- "$@"
}
dir=/var/lib/prometheus/node-exporter
if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    made_textfile_dir=1
fi

# The capabilities suffice: a listener of another user (nobody) is attributed to its
# process, and the nftables ruleset is read, with nothing but the unit's capabilities.
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)' >"$scripts/port" &
holder=$!
for _ in $(seq 100); do [ -s "$scripts/port" ] && break; sleep 0.1; done
as_unit /usr/bin/portaudit --json 2>/dev/null >"$scripts/audit.json" || true
kill "$holder"
python3 - "$scripts/audit.json" "$(cat "$scripts/port")" "$holder" <<'PY' ||
import json, sys
report, port, pid = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
mine = [s for s in report["sockets"] if s["port"] == port and s["address"] == "127.0.0.1"]
assert mine and pid in [p["pid"] for p in mine[0]["processes"] or []], mine
denied = [w for w in report["warnings"] if "CAP_NET_ADMIN" in w or "needs root" in w]
assert not denied, denied
PY
    fail "with only the unit's capabilities ($caps), owners or the ruleset are missing"

# Run the command under inotify: portaudit.prom must only ever appear by a rename into
# the directory (IN_MOVED_TO), never be created or written in place.
atomically() {
    python3 - "$dir" "$@" <<'PY'
import ctypes, os, struct, subprocess, sys
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
directory, command = sys.argv[1], sys.argv[2:]
if fd < 0 or libc.inotify_add_watch(fd, directory.encode(), IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
rc = subprocess.call(command)
data = b""
while True:
    try:
        data += os.read(fd, 65536)
    except BlockingIOError:
        break
events, i = [], 0
while i < len(data):
    _, mask, _, length = struct.unpack_from("iIII", data, i)
    events.append((mask, data[i + 16:i + 16 + length].rstrip(b"\0").decode()))
    i += 16 + length
mine = [mask for mask, name in events if name == "portaudit.prom"]
if not any(m & IN_MOVED_TO for m in mine) or any(m & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE) for m in mine):
    # Not 1 or 2: those are portaudit's own answers.
    print("portaudit.prom was not renamed into place: " + repr(events), file=sys.stderr)
    sys.exit(97)
sys.exit(rc)
PY
}
check_textfile() { # WHAT EXPECTED-RC SUCCESS [ARGS…]
    local what=$1 want=$2 success=$3
    shift 3
    rm -f "$dir/portaudit.prom"
    local rc=0
    # shellcheck disable=SC2086 # ExecStart= is split on spaces, as systemd does here.
    (umask "$umask_of_unit" && atomically env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        setpriv --bounding-set "-all,$caps" --no-new-privs -- $exec_start "$@" \
        2>"$scripts/stderr") || rc=$?
    [ "$rc" -ne 97 ] || fail "textfile, $what: $(cat "$scripts/stderr")"
    for ok in $success_status; do [ "$rc" -ne "$ok" ] || rc=0; done
    [ "$rc" -eq "$want" ] || fail "textfile, $what: exited $rc, not $want"
    grep -qx "portaudit_audit_success $success" "$dir/portaudit.prom" ||
        fail "textfile, $what: no portaudit_audit_success $success in $(cat "$dir/portaudit.prom")"
    [ "$(stat -c %a "$dir/portaudit.prom")" = 644 ] || fail "textfile, $what: not mode 644"
    if ls -A "$dir" | grep -v '^portaudit.prom$'; then
        fail "textfile, $what: left a temporary file"
    fi
}
# This host (0 or 1); a captured tree where something is exposed (portaudit exits 1: a
# result, the unit succeeds); an audit that cannot be done (exit 2: the file says so).
check_textfile "this host" 0 1
check_textfile "exposed" 0 1 --proc-root "$PWD/tests/fixtures/mixed/proc"
grep -qx 'portaudit_exit_code 1' "$dir/portaudit.prom" || fail "textfile, exposed: exit code"
check_textfile "audit failed" 2 0 --config /nonexistent/portaudit.toml
say "the textfile command writes $dir/portaudit.prom by rename, on exit 0, 1 and 2"

# --- remove ------------------------------------------------------------------------
check_textfile "before removal" 0 1
dpkg -r portaudit >/dev/null
for f in $(grep -v '/$' <<<"$listing"); do
    [ ! -e "$f" ] || [ -d "$f" ] || fail "$f is left after dpkg -r"
done
[ ! -e "$dir/portaudit.prom" ] || fail "$dir/portaudit.prom is left after dpkg -r"
# What dpkg -r keeps by Debian's rules (dh_installsystemd's): the package's state ("rc")
# and the masks deb-systemd-helper puts on the removed units, until purge.
for f in $(find /etc -name '*portaudit*' 2>/dev/null); do
    [ "$(readlink "$f")" = /dev/null ] || fail "$f is left after dpkg -r"
done
[ -d /var/lib/portaudit ] || fail "dpkg -r removed /var/lib/portaudit (the admin's baselines)"
dpkg -P portaudit >/dev/null
if dpkg -s portaudit >/dev/null 2>&1; then fail "portaudit still known to dpkg after purge"; fi
[ ! -e /var/lib/portaudit ] || fail "/var/lib/portaudit is left after dpkg -P"
left=$(find /etc/systemd /var/lib/systemd/deb-systemd-helper-* /usr/libexec/portaudit \
    /usr/share/doc/portaudit -name '*portaudit*' 2>/dev/null || true)
[ -z "$left" ] || fail "left after dpkg -P: $left"
say "dpkg -r removes every file, dpkg -P the rest; nothing is left"
