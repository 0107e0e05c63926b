"""Run every benchmark in sequence: ``make bench`` calls this.

Run: ``.venv/bin/python benchmarks/run_all.py [--full] [--postgres URL] [--quick]``

By default only the in-process parts run (no uvicorn load test); ``--full`` adds the real
HTTP load of ``bench_request_overhead`` and ``home_page`` (without it, ``home_page``'s JSON
has no HTTP figures). ``--postgres URL`` is passed to every script (each
creates its own uniquely named databases on that server and drops them). Each script runs
in its own interpreter, so one's caches and engines do not colour the next one's figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "bench_request_overhead.py",
    "bench_site_provisioning.py",
    "bench_resolution.py",
    "home_page.py",
)
HTTP_SCRIPTS = ("bench_request_overhead.py", "home_page.py")
"""Scripts whose real HTTP load runs only with ``--full`` (they take ``--skip-http``)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="include the real HTTP load test")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer samples")
    parser.add_argument(
        "--only",
        choices=[s.removesuffix(".py") for s in SCRIPTS],
        action="append",
        help="run only this script (repeatable)",
    )
    args = parser.parse_args()

    outcomes: list[tuple[str, int, float]] = []
    for script in SCRIPTS:
        name = script.removesuffix(".py")
        if args.only and name not in args.only:
            continue
        command = [sys.executable, str(HERE / script)]
        if args.postgres:
            command += ["--postgres", args.postgres]
        if args.quick:
            command.append("--quick")
        if script in HTTP_SCRIPTS and not args.full:
            command.append("--skip-http")
        print(f"\n$ {' '.join(command[1:])}", flush=True)
        began = time.perf_counter()
        code = subprocess.call(command)
        outcomes.append((name, code, time.perf_counter() - began))

    print("\nbenchmarks:")
    for name, code, seconds in outcomes:
        print(f"  {name:<28} {'ok' if code == 0 else f'FAILED (exit {code})':<18} {seconds:6.1f} s")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
