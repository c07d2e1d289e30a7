#!/bin/sh
# Write portaudit's metrics into node_exporter's textfile-collector directory,
# atomically (a temporary file in the same directory, then mv): node_exporter never
# reads a half-written file. Run it from cron or a systemd timer; extra arguments go
# to portaudit (e.g. --config FILE).
set -u
dir=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
portaudit=${PORTAUDIT:-/usr/local/bin/portaudit}
tmp="$dir/.portaudit.prom.$$"
"$portaudit" --format prometheus --color never "$@" >"$tmp"
if [ $? -ge 2 ]; then
    # Could not audit: say so, so that an alert can fire on portaudit_audit_success == 0.
    cat >"$tmp" <<METRICS
# HELP portaudit_audit_success 1 when the audit ran to the end.
# TYPE portaudit_audit_success gauge
portaudit_audit_success 0
# HELP portaudit_audit_timestamp_seconds When the audit ran, in seconds since the Unix epoch.
# TYPE portaudit_audit_timestamp_seconds gauge
portaudit_audit_timestamp_seconds $(date +%s)
METRICS
fi
mv "$tmp" "$dir/portaudit.prom"
