#!/usr/bin/env python3
"""Time whole commands in alternating rounds: every command once per round, in the same
order, so a slow moment of the machine hits all of them alike. Prints one JSON object:
for each command, its wall-clock times (ms) and, for portaudit's modes, its peak RSS
(KiB) as `/usr/bin/time -f %M` (GNU time, "Maximum resident set size") reports it, the
largest of 3 runs. (wait4's ru_maxrss of a child spawned from this Python process would
count Python's own memory from before the exec.)

usage: timeit.py ROUNDS BUDGET_SECONDS 'LABEL=argv…' …   (argv split on spaces)
Rounds stop early once BUDGET_SECONDS have passed, but never before 5 rounds.
"""

import json
import os
import sys
import time


def run(argv):
    null = os.open(os.devnull, os.O_WRONLY)
    actions = [
        (os.POSIX_SPAWN_DUP2, null, 1),
        (os.POSIX_SPAWN_DUP2, null, 2),
        (os.POSIX_SPAWN_CLOSE, null),
    ]
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    os.close(null)
    code = os.waitstatus_to_exitcode(status)
    # 2 is portaudit's "incomplete" (e.g. --all-netns meeting a namespace it may not
    # read): still a whole run, recorded with the results.
    if code not in (0, 1, 2):
        sys.exit(f"timeit: {' '.join(argv)} exited {code}")
    return elapsed, code


def peak_rss_kib(argv):
    """The largest of 3 peak RSS readings by GNU time."""
    out = "/tmp/pa-bench-rss-%d" % os.getpid()
    peak = 0
    for _ in range(3):
        with open(os.devnull, "w") as null:
            import subprocess

            subprocess.run(
                ["/usr/bin/time", "-f", "%M", "-o", out, *argv], stdout=null, stderr=null
            )
        with open(out) as f:
            peak = max(peak, int(f.read().split()[-1]))
    os.unlink(out)
    return peak


def main():
    rounds, budget = int(sys.argv[1]), float(sys.argv[2])
    commands = []
    for spec in sys.argv[3:]:
        label, _, line = spec.partition("=")
        commands.append((label, line.split()))
    results = {label: {"ms": []} for label, _ in commands}
    for label, argv in commands:  # one warm-up each
        results[label]["exit"] = run(argv)[1]
    start = time.monotonic()
    for n in range(rounds):
        for label, argv in commands:
            results[label]["ms"].append(run(argv)[0])
        if n >= 4 and time.monotonic() - start > budget:
            break
    if os.path.exists("/usr/bin/time"):
        for label, argv in commands:
            if label.startswith("portaudit"):
                results[label]["rss_kib"] = peak_rss_kib(argv)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
