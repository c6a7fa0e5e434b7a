"""``python -m bench``: run the workloads, print the table, exit 1 if a target fails.

python -m bench                 # every workload, 8 s a measured run
python -m bench --quick         # tiny and fast: checks the harness, not the targets
python -m bench --only saturation,failover --duration 15 --json out.json
python -m bench --peer kannel   # and Kannel beside smsproxy (needs Debian's kannel)
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench import kannel, wrk
from bench.components import raise_fd_limit
from bench.report import machine, render
from bench.workloads import PEERS, WORKLOADS, Bench, Sizes, run_workloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="What one smsproxy carries, beside a lean pass-through on its own HTTP stack.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny loads; no timing targets")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds a measured run may last (8; quick 1)"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of {','.join(WORKLOADS)}"
    )
    parser.add_argument("--no-wrk", action="store_true", help="python generator only")
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        choices=PEERS,
        help="run a peer gateway beside smsproxy (kannel: Debian's package)",
    )
    parser.add_argument("--json", type=Path, help="write every raw figure here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, configs)"
    )
    args = parser.parse_args(argv)
    only = [k for k in args.only.split(",") if k]
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    if "kannel" in args.peer and not kannel.available():
        parser.error(kannel.INSTALL_HINT + "; ./dev bench --peer kannel installs it as root")

    sizes = (
        Sizes.quick_mode(args.duration or 1.0) if args.quick else Sizes.full(args.duration or 8.0)
    )
    use_wrk = not args.no_wrk and not args.quick
    if use_wrk and not wrk.available():
        print(
            f"note: {wrk.INSTALL_HINT}; the wrk figures (and the 3,000/s target) are skipped\n",
            file=sys.stderr,
        )
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="smsproxy-bench-"))
    try:
        bench = Bench(workdir, sizes, use_wrk=use_wrk, peers=tuple(dict.fromkeys(args.peer)))
        workloads = run_workloads(bench, only or None)
        info = machine()
        command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
        print(render(workloads, info, quick=sizes.quick, command=command.strip()))
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "machine": info,
                        "sizes": asdict(sizes),
                        "workloads": [asdict(w) for w in workloads],
                    },
                    indent=2,
                )
            )
        if args.keep:
            print(f"work directory kept: {workdir}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    verdicts = [v for w in workloads for v in w.verdicts()]
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
