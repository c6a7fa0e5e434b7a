"""Debian's HAProxy in front of daemons on loopback, running ``deploy/haproxy.cfg`` as shipped.

Only the addresses change (:func:`config_text`): the frontend binds a free
loopback port, each ``server`` line names a daemon's legacy port and its
admin port for the health checks, and the example's servers beyond those
given are left out.  Everything else (TCP mode, ``balance leastconn``,
``send-proxy-v2``, the checks on ``/healthz`` with the PROXY header) is the
file's own, so the bench's figures and ``tests/cluster`` are about what the
README tells an operator to run.  The daemons behind it say
``listen.proxy_protocol = true`` and trust :data:`TRUSTED` (HAProxy's
address here).
"""

from __future__ import annotations

import functools
import http.client
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.deploy_files import deploy_file
from bench.procs import Child, ChildFailed

TRUSTED = "127.0.0.1/32"  # HAProxy's address as the daemons see it
EXAMPLE_SERVERS = 3  # deploy/haproxy.cfg names three daemons
START_TIMEOUT_S = 15.0
ATTEMPTS = 3  # another process may take the free port before HAProxy binds it
INSTALL_HINT = "haproxy is not installed (as root: apt-get install haproxy)"


class HAProxyMissing(ChildFailed):
    pass


def binary() -> str | None:
    """Where ``haproxy`` is: Debian puts it in /usr/sbin, which not every PATH holds."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")


def config_text(front_port: int, daemons: Sequence[tuple[int, int]]) -> str:
    """``deploy/haproxy.cfg`` for ``daemons`` ((legacy port, admin port) each) on loopback."""
    if not 1 <= len(daemons) <= EXAMPLE_SERVERS:
        raise ValueError(f"deploy/haproxy.cfg names {EXAMPLE_SERVERS} servers, not {len(daemons)}")
    replace = {
        "bind 10.0.0.5:8080": f"bind 127.0.0.1:{front_port}",
        "check-send-proxy port 9100": "check-send-proxy",
    }
    for i in range(EXAMPLE_SERVERS):
        line = f"server smsproxy{i + 1} 10.0.0.1{i + 1}:8080"
        if i < len(daemons):
            legacy, admin = daemons[i]
            replace[line] = f"server smsproxy{i + 1} 127.0.0.1:{legacy} port {admin}"
        else:
            replace[f"    {line}\n"] = ""
    return deploy_file("haproxy.cfg", replace)


class HAProxy:
    """A running HAProxy: its process and the frontend's URL."""

    def __init__(self, child: Child, port: int) -> None:
        self.child = child
        self.port = port

    def __repr__(self) -> str:
        return f"<HAProxy :{self.port} pid={self.child.pid}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        return self.child.cpu_s()

    def stop(self) -> None:
        self.child.stop(grace_s=3.0)


def start(workdir: Path, name: str, daemons: Sequence[tuple[int, int]]) -> HAProxy:
    """HAProxy in front of ``daemons``, once a request through it is answered."""
    found = binary()
    if found is None:
        raise HAProxyMissing(INSTALL_HINT)
    failure = ChildFailed("haproxy was never started")
    for _ in range(ATTEMPTS):
        port = _free_port()
        conf = workdir / f"{name}.cfg"
        conf.write_text(config_text(port, daemons), encoding="utf-8")
        # -db: in the foreground, its log on stderr.
        child = Child.start(name, [found, "-db", "-f", str(conf)], log=workdir / f"{name}.log")
        proxy = HAProxy(child, port)
        try:
            child.wait_ready(functools.partial(_answers, proxy.url), START_TIMEOUT_S, 0.1)
            return proxy
        except ChildFailed as exc:
            failure = exc  # e.g. the port was taken in the meantime
    raise ChildFailed(
        f"haproxy did not start on a free loopback port in {ATTEMPTS} tries: {failure}"
    )


class _AsBalancer(http.client.HTTPConnection):
    """A connection that opens with ``PROXY UNKNOWN``, as HAProxy's own health checks do."""

    def connect(self) -> None:
        super().connect()
        self.sock.sendall(b"PROXY UNKNOWN\r\n")


def get_as_balancer(host: str, port: int, path: str) -> bytes:
    """``GET path`` from a daemon that takes the PROXY header from this host (its admin port).

    Such a daemon drops a connection from a trusted address that comes
    without the header; ``UNKNOWN`` says it is the balancer's own.
    """
    conn = _AsBalancer(host, port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise ChildFailed(f"GET {path} from {host}:{port}: HTTP {resp.status}")
        return body
    finally:
        conn.close()


def _answers(url: str) -> bool | None:
    """A daemon behind HAProxy answers HTTP: any status will do.

    No login: failed logins from one address lock it out, and through
    HAProxy the address is the bench's own.
    """
    try:
        with urllib.request.urlopen(url + "/", timeout=2):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
