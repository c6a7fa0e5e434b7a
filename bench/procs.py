"""Each bench component as its own process on a free loopback port, and what it cost.

A component prints one JSON line with ``"event": "listening"`` when it is
ready (the daemon on stderr through its log, the stub and the pass-through on
stdout); :func:`start` waits for it and reads the port.  CPU time comes from
``/proc/PID/stat`` (user + system, every thread), peak RSS from ``VmHWM`` in
``/proc/PID/status``: the kernel's own high-water mark, so no sample is missed.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


class ComponentFailed(RuntimeError):
    pass


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path
    port: int
    ready: dict[str, Any]
    signalled: bool = False

    def __repr__(self) -> str:
        return f"<Proc {self.name} pid={self.popen.pid} port={self.port}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        """User + system CPU seconds so far, every thread included."""
        stat = Path(f"/proc/{self.popen.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> None:
        """SIGTERM, once: a second one could land after the daemon restored the default action."""
        if self.popen.poll() is None and not self.signalled:
            self.signalled = True
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, grace_s: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def tail(self, lines: int = 15) -> str:
        text = []
        for path in (self.out, self.err):
            if path.exists():
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)


def raise_fd_limit() -> None:
    """5,000 sends in flight need more descriptors than the usual 1024; children inherit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def launch(
    name: str, module_args: list[str], workdir: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    with out.open("wb") as out_f, err.open("wb") as err_f:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, "-m", *module_args],
            stdout=out_f,
            stderr=err_f,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    return popen, out, err


def wait_ready(
    name: str,
    popen: subprocess.Popen[bytes],
    out: Path,
    err: Path,
    *,
    stream: str = "stdout",
    timeout_s: float = 30.0,
) -> Proc:
    path = out if stream == "stdout" else err
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready = _listening_line(path)
        if ready is not None:
            port = _port_of(ready)
            return Proc(name, popen, out, err, port, ready)
        if popen.poll() is not None:
            break
        time.sleep(0.02)
    proc = Proc(name, popen, out, err, 0, {})
    tail = proc.tail()
    proc.stop(1.0)
    raise ComponentFailed(f"{name} did not start (exit {popen.returncode}):\n{tail}")


def start_all(
    specs: list[tuple[str, list[str], str]], workdir: Path, env: dict[str, str] | None = None
) -> dict[str, Proc]:
    """Start components in parallel; ``(name, module args, ready stream)`` each."""
    launched = [(name, *launch(name, args, workdir, env), stream) for name, args, stream in specs]
    procs: dict[str, Proc] = {}
    try:
        for name, popen, out, err, stream in launched:
            procs[name] = wait_ready(name, popen, out, err, stream=stream)
    except ComponentFailed:
        for _, popen, *_ in launched:
            if popen.poll() is None:
                popen.kill()
                popen.wait(5)
        raise
    return procs


def stop_all(procs: dict[str, Proc]) -> None:
    for proc in procs.values():
        proc.terminate()
    for proc in procs.values():
        proc.stop()


def _listening_line(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        return _scan(f)


def _scan(f: IO[bytes]) -> dict[str, Any] | None:
    for raw in f:
        if b'"listening"' not in raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "listening":
            return record
    return None


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
        raise ComponentFailed(
            f"{' '.join(args[:1])} failed ({proc.returncode}): "
            + proc.stderr.decode(errors="replace")[-2000:]
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result
