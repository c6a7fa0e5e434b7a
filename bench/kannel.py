"""Kannel as the bench's peer: bearerbox and smsbox on loopback, an HTTP SMSC to the stub.

Debian's ``kannel`` package (``./dev bench --peer kannel`` installs it as
root, without starting its service).  The bench writes its own config:
bearerbox with one HTTP SMSC (``system-type = generic``: a ``send-url``
with the number and text put in esms100's ``/mt/`` query, ``0`` read as
success) pointed at the same stub vendor smsproxy sends to, and smsbox
with a sendsms user whose HTTP interface the same load generator drives
(:mod:`bench.load` ``--api kannel``).  Kannel answers ``0: Accepted for
delivery`` when a message is queued, before any vendor has it, so what it
accepted and what reached the stub are counted apart.

With ``store`` Kannel keeps its queue in a spool directory (one file a
message) and survives a restart without losing it; without, the queue is in
memory only, as smsproxy's answer is not: ``0`` from smsproxy means a
vendor has the message.  Logging is at errors only (``-v 4``,
``log-level = 4``), so the peer is not slowed by what smsproxy does not do.
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.components import Proc
from bench.procs import Child, ChildFailed

INSTALL_HINT = "Kannel is not installed: apt-get install kannel (Debian/Ubuntu)"
USER = "bench"
PASSWORD = "bench-kannel-pw"  # noqa: S105 - the bench's own sendsms user, on loopback
ADMIN_PASSWORD = "bench-kannel-admin"  # noqa: S105 - its own bearerbox, on loopback
START_TIMEOUT_S = 30.0
# As many requests at once to the vendor as smsproxy's pool holds connections.
PENDING_SUBMITS = 200


def executables() -> tuple[str, str] | None:
    """bearerbox and smsbox, or None when Kannel is not installed."""
    found = [shutil.which(box) or _sbin(box) for box in ("bearerbox", "smsbox")]
    if found[0] is None or found[1] is None:
        return None
    return found[0], found[1]


def available() -> bool:
    return executables() is not None


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ports:
    admin: int
    smsbox: int
    smsc: int  # the HTTP SMSC's own port, for messages from the vendor (unused)
    sendsms: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port())


def config(vendor_url: str, ports: Ports, workdir: Path, store: Path | None) -> str:
    """bearerbox's and smsbox's config, one file for both."""
    send_url = f"{vendor_url}/mt/?cpid=stub&cppwd=stub&encode=utf8&phone=%P&msgtext=%b"
    core = [
        "group = core",
        f"admin-port = {ports.admin}",
        f'admin-password = "{ADMIN_PASSWORD}"',
        'admin-interface = "127.0.0.1"',
        f"smsbox-port = {ports.smsbox}",
        'box-allow-ip = "127.0.0.1"',
        f'log-file = "{workdir / "bearerbox.log"}"',
        "log-level = 4",
    ]
    if store is not None:
        core += ['store-type = "spool"', f'store-location = "{store}"']
    groups = [
        core,
        [
            "group = smsc",
            "smsc = http",
            'smsc-id = "stub"',
            'system-type = "generic"',
            f'send-url = "{send_url}"',
            'status-success-regex = "^0$"',
            f"port = {ports.smsc}",
            'connect-allow-ip = "127.0.0.1"',
            f"max-pending-submits = {PENDING_SUBMITS}",
        ],
        [
            "group = smsbox",
            'bearerbox-host = "127.0.0.1"',
            f"bearerbox-port = {ports.smsbox}",
            f"sendsms-port = {ports.sendsms}",
            'sendsms-interface = "127.0.0.1"',
            'global-sender = "10000"',
            f'log-file = "{workdir / "smsbox.log"}"',
            "log-level = 4",
        ],
        [
            "group = sendsms-user",
            f'username = "{USER}"',
            f'password = "{PASSWORD}"',
            "max-messages = 1",
        ],
        ["group = sms-service", 'keyword = "default"', 'text = "no service"'],
    ]
    return "\n\n".join("\n".join(g) for g in groups) + "\n"


@dataclass
class Kannel:
    """A running Kannel: its two boxes (CPU and RSS are their sum) and its sendsms port."""

    bearerbox: Proc
    smsbox: Proc

    @property
    def sendsms(self) -> Proc:
        return self.smsbox

    @property
    def boxes(self) -> list[Proc]:
        return [self.bearerbox, self.smsbox]


@contextmanager
def running(
    workdir: Path, vendor_url: str, *, store: bool, name: str = "kannel"
) -> Iterator[Kannel]:
    """bearerbox, then smsbox once the SMSC is online; both stopped on the way out."""
    exes = executables()
    if exes is None:
        raise ChildFailed(INSTALL_HINT)
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    spool = home / "spool" if store else None
    if spool is not None:
        spool.mkdir(exist_ok=True)
    ports = Ports.free()
    conf = home / "kannel.conf"
    conf.write_text(config(vendor_url, ports, home, spool), encoding="utf-8")
    children: list[Child] = []
    try:
        bearer = Child.start(
            f"{name}-bearerbox", [exes[0], "-v", "4", str(conf)], log=home / "bearerbox.err"
        )
        children.append(bearer)
        bearer.wait_ready(lambda: _smsc_online(ports.admin), START_TIMEOUT_S, 0.1)
        sms = Child.start(
            f"{name}-smsbox", [exes[1], "-v", "4", str(conf)], log=home / "smsbox.err"
        )
        children.append(sms)
        sms.wait_ready(lambda: _listening(ports.sendsms), START_TIMEOUT_S, 0.1)
        bearer.wait_ready(lambda: _smsbox_connected(ports.admin), START_TIMEOUT_S, 0.1)
        yield Kannel(
            Proc(bearer, ports.admin, {"port": ports.admin}),
            Proc(sms, ports.sendsms, {"port": ports.sendsms}),
        )
    finally:
        for child in reversed(children):
            child.stop(10.0)


def status(admin_port: int) -> str | None:
    url = f"http://127.0.0.1:{admin_port}/status.txt?password={ADMIN_PASSWORD}"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode("latin-1"))
    except (OSError, urllib.error.URLError):
        return None


def _smsc_online(admin_port: int) -> bool | None:
    text = status(admin_port)
    return True if text is not None and "online" in text else None


def _smsbox_connected(admin_port: int) -> bool | None:
    text = status(admin_port)
    return True if text is not None and "smsbox:" in text.lower() else None


def _listening(port: int) -> bool | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return None
