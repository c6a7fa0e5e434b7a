"""The table: smsproxy beside its baseline, each figure with its target and verdict."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bench import wrk
from bench.components import ROOT
from bench.workloads import Row, Workload
from proxy import event_loop

# The ratio is smsproxy's over the lean pass-through's; "peer" is shown when a peer ran.
HEADER = ("figure", "smsproxy", "lean", "ratio", "aiohttp", "direct", "peer", "target", "result")
WIDTHS = (40, 10, 10, 6, 10, 10, 10, 24, 6)
RIGHT = 6  # the numeric columns, right-aligned


def machine() -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        aiohttp_version = metadata.version("aiohttp")
    except metadata.PackageNotFoundError:
        aiohttp_version = "?"
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        # Which build matters as much as which version: Debian's ran the daemon
        # 15-20% faster than a pyenv build of a later 3.11 (see ./dev).
        "python": f"{platform.python_version()} ({os.path.realpath(sys.executable)})",
        "aiohttp": aiohttp_version,
        "kernel": platform.release(),
        "wrk": wrk.version() or "not installed",
        "loop": event_loop.loop_name(),
        "commit": _commit(),
    }


def _git(*args: str) -> str:
    """A read-only git query's output, or "" when git is missing or hangs."""
    try:
        return subprocess.run(  # noqa: S603 - the arguments are this module's own
            ["git", *args],  # noqa: S607 - read-only git queries, fixed arguments
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _commit() -> str:
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return (head or "?") + (" (with uncommitted changes)" if dirty else "")


def fmt(value: float | None, decimals: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{decimals}f}"


def verdict(row: Row) -> str:
    if row.passed is None:
        return "" if not row.target else "n/a"
    return "PASS" if row.passed else "FAIL"


def render_row(row: Row, peer: bool = False) -> str:
    ratio = ""
    if row.ratio and row.proxy is not None and row.baseline:
        ratio = f"{row.proxy / row.baseline:.2f}"

    def opt(value: float | None) -> str:
        return "" if value is None else fmt(value, row.decimals)

    cells = (
        row.label,
        fmt(row.proxy, row.decimals),
        fmt(row.baseline, row.decimals),
        ratio,
        opt(row.aiohttp),
        opt(row.direct),
        opt(row.peer),
        row.target,
        verdict(row),
    )
    return _line(cells, peer)


def _line(cells: Sequence[str], peer: bool = False) -> str:
    shown = [(c, w) for i, (c, w) in enumerate(zip(cells, WIDTHS, strict=True)) if peer or i != 6]
    out = [c.ljust(w) if i == 0 or i >= RIGHT else c.rjust(w) for i, (c, w) in enumerate(shown)]
    return "  ".join(out).rstrip()


def render(workloads: list[Workload], info: dict[str, str], *, quick: bool, command: str) -> str:
    peer = any(r.peer is not None for w in workloads for r in w.rows)
    out = [
        "smsproxy benchmark" + (" (QUICK MODE: timing targets not checked)" if quick else ""),
        f"  command: {command}",
        f"  machine: {info['cpus']} CPUs, {info['cpu']}; Python {info['python']}, "
        f"aiohttp {info['aiohttp']}, Linux {info['kernel']}; {info['wrk']}",
        f"  smsproxy at {info['commit']}; daemon and pass-throughs on {info['loop']}",
        "  smsproxy: the operator's config (client quota on, the example's dedup window)",
        "  lean: a pass-through on smsproxy's own httptools server and client, the baseline "
        "of every ratio",
        "  aiohttp: a pass-through on aiohttp's server and client; direct: load straight "
        "to the stub",
        *(["  peer: Kannel (bearerbox + smsbox), HTTP SMSC to the same stub"] if peer else []),
        "",
        _line(HEADER, peer),
        _line(tuple("-" * w for w in WIDTHS), peer),
    ]
    for i, w in enumerate(workloads, 1):
        out.append(f"{i}. {w.title}")
        if w.error:
            out.append(f"   ERROR: {w.error}")
        out += [render_row(r, peer) for r in w.rows]
        out += [f"   note: {n}" for n in w.notes]
        out.append("")
    verdicts = [v for w in workloads for v in w.verdicts()]
    passed = sum(verdicts)
    out.append(
        f"targets: {passed} of {len(verdicts)} passed"
        + ("" if all(verdicts) else " -- FAILED: " + ", ".join(_failed(workloads)))
    )
    return "\n".join(out)


def _failed(workloads: list[Workload]) -> list[str]:
    names = []
    for w in workloads:
        if w.error:
            names.append(f"{w.key} (error)")
        label = ""
        for r in w.rows:
            label = r.label.strip() or label
            if r.passed is False:
                names.append(f"{w.key}: {label}")
    return names
