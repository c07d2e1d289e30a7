#!/usr/bin/env python3
"""nftables' own test suite as loadable rulesets: one file per rule line of tests/py
(for each table and chain its test file declares, as tests/py/nft-test.py runs it) and
one per tests/shell dump. Optionally loads each into a private network namespace with
this machine's nft and saves nft's JSON listing beside it.

usage: bench/nft-corpus.py SNAPSHOT [--ref v1.0.6] [--out target/nft-corpus] [--load]

SNAPSHOT is a git directory of nftables (a clone, or a bare mirror such as the search
tool's `fetch` brings); nothing is copied from it into this repository: the corpus is
written under --out (target/ by default, never committed). Needs git; --load needs root,
iproute2 and nft.

Output (--out DIR):
  DIR/py/<dir>-<file>-<line>-<family>-<chain>.nft   `flush ruleset`, then the commands
                                                   nft-test.py would run: table, every
                                                   chain of the table, the sets, elements
                                                   and objects declared so far, the rule
  DIR/shell/<testcase path>.nft                    `flush ruleset`, then the dump
  DIR/**/<name>.json                               with --load: `nft -j list ruleset`
                                                   after loading (only if it loaded)
  DIR/index.jsonl                                  one JSON object per file: file, origin
                                                   (py|shell), source (path:line), family,
                                                   table, chain, hook, type, rule,
                                                   expected (nft's listing of the rule,
                                                   when the test gives one), and with
                                                   --load: loaded (bool), error (nft's)
The summary (how many loaded, by origin and family) goes to stdout.

Consumers: tests/verdicts.rs (PORTAUDIT_NFT_CORPUS=DIR mixes the rule lines into the
kernel-truth differential), and any comparison of a ruleset reader against nft's JSON:
load DIR/<file>.nft into a namespace (`ip netns exec NS nft -f FILE`), read it, compare
with DIR/<file>.json.
"""

import argparse
import collections
import ctypes
import json
import os
import re
import subprocess
import sys

CLONE_NEWNET = 0x40000000


def git(snapshot, *args):
    return subprocess.run(
        ["git", "--git-dir", snapshot, *args], check=True, capture_output=True
    ).stdout


def git_dir(path):
    """The git directory of a clone or of a bare repository."""
    for candidate in (os.path.join(path, ".git"), os.path.join(path, "repo"), path):
        if os.path.exists(os.path.join(candidate, "HEAD")):
            return candidate
    sys.exit(f"nft-corpus: {path}: not a git directory")


def files(snapshot, ref):
    names = git(snapshot, "ls-tree", "-r", "--name-only", ref, "tests").decode().split("\n")
    py = sorted(n for n in names if re.fullmatch(r"tests/py/[^/]+/[^/]+\.t", n))
    shell = sorted(n for n in names if re.fullmatch(r"tests/shell/testcases/.+/dumps/[^/]+\.nft", n))
    return py, shell


def read(snapshot, ref, name):
    return git(snapshot, "show", f"{ref}:{name}").decode("utf-8", "replace")


def chain_head(config):
    """(hook, type) of a chain's configuration `type filter hook input priority 0`."""
    words = config.split()
    kind = words[words.index("type") + 1] if "type" in words else None
    hook = words[words.index("hook") + 1] if "hook" in words else None
    return hook, kind


def py_rulesets(path, text):
    """The rulesets of one tests/py file: (name, source, meta, script)."""
    chains = {}  # name -> config
    tables = []  # (family, name, [chain names])
    declared = collections.defaultdict(list)  # (family, table) -> commands
    out = []
    base = path[len("tests/py/"):-len(".t")].replace("/", "-")
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        body = line.rstrip()
        if body.startswith("*"):
            family, name, chain_list = body[1:].split(";")[:3]
            tables.append((family, name, chain_list.split(",")))
            continue
        if body.startswith(":"):
            name, config = body[1:].split(";", 1)
            chains[name] = config
            continue
        if body.startswith("!"):
            fields = body[1:].split(";")
            if len(fields) < 2 or fields[1].strip() != "ok":
                continue
            tokens = fields[0].split(" ")
            name, kind = tokens[0], tokens[2]
            i = 3
            while len(tokens) > i + 1 and tokens[i] == ".":
                kind += " . " + tokens[i + 1]
                i += 2
            extra = ""
            if len(tokens) == i + 2 and tokens[i] == "timeout":
                extra += f" timeout {tokens[i + 1]};"
                i += 2
            if len(tokens) == i + 2 and tokens[i] == "flags":
                extra += f" flags {tokens[i + 1]};"
            for family, table, _ in tables:
                declared[(family, table)].append(
                    f"add set {family} {table} {name} {{ type {kind};{extra} }}"
                )
            continue
        if body.startswith("?"):
            fields = body[1:].split(";")
            if len(fields) < 2 or fields[1].strip() != "ok":
                continue
            name, _, elements = fields[0].partition(" ")
            for family, table, _ in tables:
                declared[(family, table)].append(
                    f"add element {family} {table} {name} {{ {elements.strip()} }}"
                )
            continue
        if body.startswith("%"):
            brace = body.rfind("}")
            if brace < 0:
                fields = body[1:].split(";")
                spec, result = fields[0], fields[1] if len(fields) > 1 else ""
            else:
                spec, result = body[1:brace + 1], body[brace + 2:]
            if result.strip() != "ok":
                continue
            tokens = spec.split(" ")
            name, kind = tokens[0], tokens[2]
            rest = tokens[3:]
            if kind == "ct" and rest and rest[0] in ("helper", "timeout", "expectation"):
                kind = "ct " + rest[0]
                rest = rest[1:]
            for family, table, _ in tables:
                declared[(family, table)].append(
                    f"add {kind} {family} {table} {name} {' '.join(rest)}".rstrip()
                )
            continue
        if body.startswith("-"):
            continue
        fields = body.split(";")
        if len(fields) < 2 or len(fields) > 3 or fields[1].strip() != "ok":
            continue
        rule = fields[0].strip()
        expected = fields[2].strip() if len(fields) == 3 else None
        for family, table, table_chains in tables:
            head = [f"add table {family} {table}"]
            for chain in table_chains:
                config = chains.get(chain, "")
                head.append(f"add chain {family} {table} {chain} {{ {config}; }}")
            for chain in table_chains:
                hook, kind = chain_head(chains.get(chain, ""))
                script = "\n".join(
                    ["flush ruleset", *head, *declared[(family, table)],
                     f"add rule {family} {table} {chain} {rule}", ""]
                )
                name = f"py/{base}-{lineno}-{family}-{chain}.nft"
                meta = {
                    "origin": "py",
                    "source": f"{path}:{lineno}",
                    "family": family,
                    "table": table,
                    "chain": chain,
                    "hook": hook,
                    "type": kind,
                    "rule": rule,
                    "expected": expected,
                }
                out.append((name, meta, script))
    return out


def shell_ruleset(path, text):
    name = "shell/" + path[len("tests/shell/testcases/"):].replace("/dumps/", "-")
    meta = {"origin": "shell", "source": path, "family": None, "table": None,
            "chain": None, "hook": None, "type": None, "rule": None, "expected": None}
    return name, meta, "flush ruleset\n" + text


def devices(scripts):
    """Interface names the rulesets bind chains or flowtables to (lo exists already)."""
    names = set()
    for script in scripts:
        for match in re.finditer(r'devices?\s*=?\s*(\{[^}]*\}|"[^"]+"|\S+)', script):
            for name in re.findall(r'"?([A-Za-z0-9_.-]+)"?', match.group(1)):
                if name not in ("lo", "devices", "device") and len(name) < 16:
                    names.add(name)
    return sorted(names)


def setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit(f"nft-corpus: setns {path}: {os.strerror(ctypes.get_errno())}")
    os.close(fd)


def load_all(out, rows, scripts):
    """Load every file in a namespace of our own; record whether nft took it."""
    ns = f"pa-corpus-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        for name in devices(scripts):
            made = subprocess.run(["ip", "-n", ns, "link", "add", name, "type", "dummy"],
                                  capture_output=True)
            if made.returncode == 0:
                subprocess.run(["ip", "-n", ns, "link", "set", name, "up"], check=True)
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        setns(f"/run/netns/{ns}")
        try:
            for row in rows:
                path = os.path.join(out, row["file"])
                done = subprocess.run(["nft", "-f", path], capture_output=True, text=True)
                row["loaded"] = done.returncode == 0
                # nft's first line of complaint, without the file name and position.
                first = done.stderr.strip().split("\n")[0]
                row["error"] = None if row["loaded"] else re.sub(r"^\S+:\d+:[\d-]+: ", "", first)
                if row["loaded"]:
                    listed = subprocess.run(["nft", "-j", "list", "ruleset"],
                                            capture_output=True, check=True)
                    with open(path[:-len(".nft")] + ".json", "wb") as f:
                        f.write(listed.stdout)
            subprocess.run(["nft", "flush", "ruleset"], check=True)
        finally:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(home, CLONE_NEWNET)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("snapshot", help="git directory of nftables")
    parser.add_argument("--ref", default="v1.0.6")
    parser.add_argument("--out", default="target/nft-corpus")
    parser.add_argument("--load", action="store_true",
                        help="load each into a private namespace (root)")
    args = parser.parse_args()
    snapshot = git_dir(args.snapshot)
    py, shell = files(snapshot, args.ref)
    entries = []
    for path in py:
        entries.extend(py_rulesets(path, read(snapshot, args.ref, path)))
    for path in shell:
        entries.append(shell_ruleset(path, read(snapshot, args.ref, path)))
    for sub in ("py", "shell"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    rows = []
    for name, meta, script in entries:
        with open(os.path.join(args.out, name), "w") as f:
            f.write(script)
        rows.append({"file": name, **meta})
    if args.load:
        if os.geteuid() != 0:
            sys.exit("nft-corpus: --load needs root (a network namespace)")
        load_all(args.out, rows, [script for _, _, script in entries])
    with open(os.path.join(args.out, "index.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    version = subprocess.run(["nft", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"nftables {args.ref}: {len(py)} tests/py files, {len(shell)} tests/shell dumps "
          f"-> {len(rows)} rulesets in {args.out}/ (index: {args.out}/index.jsonl)")
    if args.load:
        print(f"loaded with {version}:")
        counts = collections.Counter()
        for row in rows:
            key = (row["origin"], row["family"] or "-")
            counts[key + ("all",)] += 1
            counts[key + ("loaded",)] += row["loaded"]
        for origin in ("py", "shell"):
            keys = sorted({k[1] for k in counts if k[0] == origin})
            total = sum(counts[(origin, f, "all")] for f in keys)
            loaded = sum(counts[(origin, f, "loaded")] for f in keys)
            detail = ", ".join(f"{f} {counts[(origin, f, 'loaded')]}/{counts[(origin, f, 'all')]}"
                               for f in keys)
            print(f"  {origin}: {loaded} of {total} load ({detail})")
        total = len(rows)
        loaded = sum(r["loaded"] for r in rows)
        print(f"  all: {loaded} of {total} load")


if __name__ == "__main__":
    main()
