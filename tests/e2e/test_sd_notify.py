"""Type=notify: the daemon tells systemd READY=1 once its ports listen, STOPPING=1 on SIGTERM.

The daemon runs as a process with ``NOTIFY_SOCKET`` naming a unix datagram
socket this test binds, as systemd does; no systemd is involved.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from proxy.sd_notify import notify
from tests.e2e.daemon_process import DaemonProcess, write_config


async def receive(sock: socket.socket, timeout_s: float) -> str:
    loop = asyncio.get_running_loop()
    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout_s)
    return data.decode()


async def test_ready_once_listening_and_stopping_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        config = tmp_path / "smsproxy.toml"
        write_config(
            config,
            {
                "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
                "state": {"path": str(tmp_path / "state.sqlite3")},
            },
            {},
        )
        daemon = DaemonProcess(config, tmp_path, env={"NOTIFY_SOCKET": str(path)})
        await daemon.start()
        try:
            assert await receive(sock, 10.0) == "READY=1"
            # Ready means listening: the legacy port answers now.
            host, _, port = daemon.listening["legacy"].rpartition(":")
            _, writer = await asyncio.open_connection(host.removeprefix("http://"), int(port))
            writer.close()
            assert daemon.proc is not None
            daemon.proc.terminate()
            assert await receive(sock, 10.0) == "STOPPING=1"
            assert await daemon.proc.wait_async(15.0) == 0
        finally:
            await daemon.stop()


def test_without_notify_socket_nothing_is_sent() -> None:
    assert notify("READY=1", {}) is False


def test_an_abstract_socket_is_reached(tmp_path: Path) -> None:
    name = f"smsproxy-test-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(100) == b"READY=1"


def test_a_socket_nobody_listens_on_is_logged_not_fatal(tmp_path: Path) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False
