#!/usr/bin/env python3
"""Runs a command and reports its peak resident memory against a model's size.

  peak_rss.py --model PATH [--slack-gb 1] [--limit-gb G] [--check] [--json] -- COMMAND [ARG ...]

The peak is getrusage(RUSAGE_CHILDREN).ru_maxrss after the command exits: the largest resident
set of the command (or of any process it waited for), pages of memory-mapped files included.
PATH is the model the command loads: a file (its size) or a folder (the sum of the sizes of
the files in it). The bound is that size plus --slack-gb GB (10^9 bytes). The command's own
output goes to stderr, so stdout has only the report (one JSON line with --json).

--limit-gb caps the command's address space (RLIMIT_AS, memory maps included) at G GB, so that
a program that would take more memory than the machine has fails its allocation instead of
waking the kernel's OOM killer on a shared machine.

Exit status: the command's, when it fails; else 0, or 1 with --check when the peak is over the
bound.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def model_bytes(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
                   if os.path.isfile(os.path.join(path, f)))
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--slack-gb", type=float, default=1.0)
    ap.add_argument("--limit-gb", type=float, default=0.0)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given (put it after --)")
    if not os.path.exists(args.model):
        print(f"peak_rss.py: {args.model}: no such file or folder", file=sys.stderr)
        return 2

    size = model_bytes(args.model)
    t0 = time.time()
    limit = int(args.limit_gb * 1e9)

    def cap():
        if limit > 0:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    rc = subprocess.run(cmd, stdout=sys.stderr, preexec_fn=cap).returncode
    wall = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    bound = size + args.slack_gb * 1e9
    report = {"model": args.model, "model_bytes": size, "peak_rss_bytes": peak,
              "bound_bytes": int(bound), "within_bound": peak <= bound, "exit_code": rc,
              "wall_s": round(wall, 2), "limit_bytes": limit, "command": cmd}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.model}: size {size / 1e9:.3f} GB, peak RSS {peak / 1e9:.3f} GB, bound "
              f"(size + {args.slack_gb:g} GB) {bound / 1e9:.3f} GB: "
              f"{'within' if peak <= bound else 'OVER'}; exit {rc}, {wall:.1f} s")
    if rc != 0:
        return rc
    return 1 if args.check and peak > bound else 0


if __name__ == "__main__":
    sys.exit(main())
