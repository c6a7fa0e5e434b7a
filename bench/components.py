"""The bench's components, each its own process on a free loopback port, and what it cost.

A component prints one JSON line with ``"event": "listening"`` when it is
ready (the daemon on stderr through its log, the stub and the pass-through on
stdout); :func:`start_all` waits for it and reads the port.  Each runs as
``python -m MODULE`` from the repository root, so the bench's own modules
(not part of the installed package) import as they do here.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import Child, ChildFailed, json_event

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 30.0


@dataclass
class Proc:
    """A component that is listening: its process, its port and its ``listening`` line."""

    child: Child
    port: int
    ready: dict[str, Any]

    def __repr__(self) -> str:
        return f"<Proc {self.child.name} pid={self.child.pid} port={self.port}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        return self.child.cpu_s()

    def peak_rss_mb(self) -> float:
        return self.child.peak_rss_mb()


def raise_fd_limit() -> None:
    """5,000 sends in flight need more descriptors than the usual 1024; children inherit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def launch(
    name: str, module_args: list[str], workdir: Path, env: dict[str, str] | None = None
) -> Child:
    """``python -m MODULE ARGS``: stdout to ``NAME.out``, stderr to ``NAME.err``."""
    return Child.start(
        name,
        [sys.executable, "-m", *module_args],
        log=workdir / f"{name}.err",
        stdout=workdir / f"{name}.out",
        env=env or {},
        cwd=ROOT,
    )


def wait_ready(child: Child, stream: str = "stdout") -> Proc:
    """The component once it printed its ``listening`` line on ``stream``."""
    path = child.stdout if stream == "stdout" else child.log
    assert path is not None
    ready = child.wait_ready(json_event(path), START_TIMEOUT_S)
    return Proc(child, _port_of(ready), ready)


def start_all(
    specs: list[tuple[str, list[str], str]], workdir: Path, env: dict[str, str] | None = None
) -> dict[str, Proc]:
    """Start components in parallel; ``(name, module args, ready stream)`` each."""
    launched = [(name, launch(name, args, workdir, env), stream) for name, args, stream in specs]
    procs: dict[str, Proc] = {}
    try:
        for name, child, stream in launched:
            procs[name] = wait_ready(child, stream)
    except ChildFailed:
        for _, child, _ in launched:
            if child.alive():
                child.kill()
                child.wait(5)
        raise
    return procs


def stop_all(procs: dict[str, Proc]) -> None:
    for proc in procs.values():
        proc.child.terminate()
    for proc in procs.values():
        proc.child.stop(STOP_GRACE_S)


def _port_of(ready: dict[str, Any]) -> int:
    if "port" in ready:
        return int(ready["port"])
    # The daemon: {"legacy": "http://127.0.0.1:PORT", ...}
    return int(str(ready["legacy"]).rsplit(":", 1)[1])


def run_module(args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run a bench module to completion and parse the JSON line it prints."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter and modules
        [sys.executable, "-m", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=timeout_s,
        check=False,
    )
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ChildFailed(
            f"{' '.join(args[:1])} failed ({proc.returncode}): "
            + proc.stderr.decode(errors="replace")[-2000:]
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result
