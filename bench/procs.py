"""A child process of the bench or the tests: start it, wait until it is ready, stop it, its log.

Every process the bench and the tests start goes through :class:`Child`: the
bench's components (:mod:`bench.components`), redis-server
(:mod:`bench.redis_server`), the daemon of the e2e tests
(``tests/e2e/daemon_process.py``) and the observability stack's Prometheus.
It lives in the bench rather than in ``tests/`` because the bench may import
nothing the daemon does not need (pytest, say), while the tests may import
the bench.

Ready means a probe, polled, returned something other than ``None``: a JSON
log line (:func:`json_event`) or the caller's own (a Redis ``PING``,
Prometheus' ``/-/ready``).  The ``*_async`` twins wait without blocking the
event loop: an e2e test serves the daemon's simulated vendors on that loop,
and a daemon that is starting or shutting down still talks to them.  CPU time
comes from ``/proc/PID/stat`` (user + system, every thread), peak RSS from
``VmHWM`` in ``/proc/PID/status``: the kernel's own high-water mark, so no
sample is missed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar, overload

T = TypeVar("T")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DISCARD = Path(os.devnull)  # stdout=DISCARD: a child's stdout goes nowhere
REAP_INTERVAL_S = 0.01  # how often the asyncio twins look whether the child has exited


class ChildFailed(RuntimeError):
    """A child exited or was not ready in time; the message ends with its log's tail."""


class Child:
    """One child process, its stderr in ``log`` and its stdout there too or in ``stdout``."""

    def __init__(
        self, name: str, popen: subprocess.Popen[bytes], log: Path, stdout: Path | None
    ) -> None:
        self.name = name
        self.popen = popen
        self.log = log
        self.stdout = stdout
        self.signalled = False

    def __repr__(self) -> str:
        return f"<Child {self.name} pid={self.popen.pid}>"

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        stdout: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Run ``argv``, ``env`` added to this process's environment; ``log`` is truncated."""
        with log.open("wb") as err_f:
            out_f: IO[bytes] | None = None if stdout is None else stdout.open("wb")
            try:
                popen = subprocess.Popen(  # noqa: S603 - the callers' own commands
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=err_f if out_f is None else out_f,
                    stderr=err_f,
                    cwd=cwd,
                    env=None if env is None else {**os.environ, **env},
                )
            finally:
                if out_f is not None:
                    out_f.close()
        return cls(name, popen, log, stdout)

    # --- state -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs; then its exit status (-N when signal N ended it)."""
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_s(self) -> float:
        """User + system CPU seconds so far, every thread included."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    # --- ready -------------------------------------------------------------------------

    def wait_ready(
        self, probe: Callable[[], T | None], timeout_s: float, interval_s: float = 0.02
    ) -> T:
        """What ``probe`` returned once it returned something; else stop and raise."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = probe()
            if ready is not None:
                return ready
            if not self.alive() or time.monotonic() >= deadline:
                break
            time.sleep(interval_s)
        failure = self._not_ready(timeout_s)
        self.stop(grace_s=1.0)
        raise failure

    @overload
    async def wait_ready_async(
        self, probe: Callable[[], Awaitable[T | None]], timeout_s: float, interval_s: float = ...
    ) -> T: ...

    @overload
    async def wait_ready_async(
        self, probe: Callable[[], T | None], timeout_s: float, interval_s: float = ...
    ) -> T: ...

    async def wait_ready_async(
        self,
        probe: Callable[[], Any],
        timeout_s: float,
        interval_s: float = 0.05,
    ) -> Any:
        """:meth:`wait_ready` on an event loop; ``probe`` may be a coroutine function."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = probe()
            if inspect.isawaitable(ready):
                ready = await ready
            if ready is not None:
                return ready
            if not self.alive() or time.monotonic() >= deadline:
                break
            await asyncio.sleep(interval_s)
        failure = self._not_ready(timeout_s)
        await self.stop_async(grace_s=1.0)
        raise failure

    def _not_ready(self, timeout_s: float) -> ChildFailed:
        code = self.popen.poll()
        why = f"exited ({code})" if code is not None else f"was not ready in {timeout_s:g} s"
        return ChildFailed(f"{self.name} {why}:\n{self.tail()}")

    # --- stop --------------------------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        self.popen.send_signal(sig)  # a no-op once the child has been reaped

    def terminate(self) -> None:
        """SIGTERM, once: a second one could land after the daemon restored the default action."""
        if self.popen.poll() is None and not self.signalled:
            self.signalled = True
            self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL now, as a crash would; :meth:`wait` or :meth:`wait_async` reaps it."""
        self.popen.kill()

    def wait(self, timeout_s: float | None = None) -> int:
        return self.popen.wait(timeout_s)

    async def wait_async(self, timeout_s: float | None = None) -> int:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while (code := self.popen.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.popen.args, timeout_s or 0.0)
            await asyncio.sleep(REAP_INTERVAL_S)
        return code

    def stop(self, grace_s: float = 10.0) -> int:
        """SIGTERM, and SIGKILL if it still runs ``grace_s`` later; its exit status."""
        if self.popen.poll() is None:
            self.terminate()
            try:
                return self.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.wait(5.0)

    async def stop_async(self, grace_s: float = 10.0) -> int:
        """:meth:`stop` on an event loop."""
        if self.popen.poll() is None:
            self.terminate()
            try:
                return await self.wait_async(grace_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return await self.wait_async(5.0)

    # --- log ---------------------------------------------------------------------------

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` of its stdout (when kept apart) and of its log."""
        text: list[str] = []
        for path in (self.stdout, self.log):
            if path is not None and path != DISCARD and path.exists():
                text += path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return "\n".join(text)


def json_event(path: Path, event: str = "listening") -> Callable[[], dict[str, Any] | None]:
    """A probe: the first JSON line of ``path`` whose ``event`` is ``event``, once there is one."""

    def probe() -> dict[str, Any] | None:
        if not path.exists():
            return None
        with path.open("rb") as f:
            return _scan(f, event)

    return probe


def _scan(f: IO[bytes], event: str) -> dict[str, Any] | None:
    needle = json.dumps(event).encode()
    for raw in f:
        if needle not in raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a line still being written, or not JSON at all
        if isinstance(record, dict) and record.get("event") == event:
            return record
    return None
