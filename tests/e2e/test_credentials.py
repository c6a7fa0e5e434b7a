"""Password guessing, /ent/'s rules, the operator's reset and private state files,
against daemons and a simulator over real sockets (and a real Redis for two daemons).

The daemon listens on 127.0.0.1; connections from 127.0.0.2 (any 127/8 address
is loopback on Linux) are another source address.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from structlog.testing import capture_logs
from yarl import URL

from adapters.simulator import SimulatorServer
from proxy.serve import Daemon
from proxy.state import spool_path
from proxy.store.sqlite.store import SqliteStore
from tests.conftest import ADMIN_HEADERS, CPID, PASSWORD, DaemonFactory, base_config, esms100_vendor
from tests.e2e.daemon_process import DaemonProcess, write_config
from tests.redis_server import RedisServer

HERE, ELSEWHERE = "127.0.0.1", "127.0.0.2"
OTHER, OTHER_PASSWORD = "other", "other-pass"


def md5(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest().upper()


def config(tmp_path: Path, esms100: SimulatorServer, **login: Any) -> dict[str, Any]:
    c = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    c["clients"].append({"cpid": OTHER, "password": OTHER_PASSWORD, "rate_per_s": 100})
    c["login"] = {"max_failures_per_address": 5, "lockout_s": 60, **login}
    return c


async def call(daemon: Daemon, path: str, query: str, source: str = HERE) -> bytes:
    url = URL(f"{daemon.legacy_url}{path}?{query}", encoded=True)
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url) as resp:
        assert resp.status == 200
        return await resp.read()


def auth(cppwd: str = md5(PASSWORD), cpid: str = CPID) -> str:
    return f"cpid={cpid}&cppwd={cppwd}"


async def metrics_text(daemon: Daemon) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{daemon.admin_url}/metrics") as r:
        return await r.text()


async def admin_post(daemon: Daemon, path: str, token: bool = True) -> tuple[int, Any]:
    headers = ADMIN_HEADERS if token else {}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(daemon.admin_url + path) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_password_guessing_is_locked_out_without_looking_at_the_password(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    daemon = await start_daemon(config(tmp_path, esms100))
    send = "&phone=13800138000&msgtext=hi"
    with capture_logs() as logs:
        for n in range(5):
            assert await call(daemon, "/mt/", auth(md5(f"guess{n}")) + send) == b"-1"
        # Locked out: the right password gets -9 (account suspended) like a wrong one.
        assert await call(daemon, "/mt/", auth() + send) == b"-9"
        assert await call(daemon, "/mt/", auth(md5("guess9")) + send) == b"-9"
        for path in ("/qamount/", "/qreport/", "/mo/"):
            assert await call(daemon, path, auth()) == b"-9"
        assert await call(daemon, "/qreport/", auth(md5(OTHER_PASSWORD), OTHER)) == b"-9"
        # /ent/ documents only 0 and -1; the password is not changed.
        ent = f"cpid={CPID}&oldpwd={md5(PASSWORD)}&newpwd=another-pass"
        assert await call(daemon, "/ent/", ent) == b"-1"
    assert esms100.simulator.accepted == []

    # Another address, for either account, is not held.
    assert await call(daemon, "/qreport/", auth(), ELSEWHERE) == b"0"
    assert await call(daemon, "/qreport/", auth(md5(OTHER_PASSWORD), OTHER), ELSEWHERE) == b"0"
    assert await call(daemon, "/mt/", auth() + send, ELSEWHERE) == b"0"

    locked = [e for e in logs if e["event"] == "login_locked_out"]
    assert [(e["scope"], e["address"], e["failures"]) for e in locked] == [("address", HERE, 5)]
    everything = repr(logs)
    for secret in (md5(PASSWORD), md5("guess0"), PASSWORD):
        assert secret not in everything

    text = metrics_text(daemon)
    lines = (await text).splitlines()
    assert "smsproxy_login_failures_total 5.0" in lines
    assert 'smsproxy_login_lockouts_total{scope="address"} 1.0' in lines
    assert 'smsproxy_logins_refused_total{scope="address"} 7.0' in lines
    assert 'smsproxy_legacy_requests_total{code="-9",endpoint="mt"} 2.0' in lines


async def test_ent_refuses_weak_or_trimmed_passwords_and_names_the_reason(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    daemon = await start_daemon(config(tmp_path, esms100))
    old = f"cpid={CPID}&oldpwd={md5(PASSWORD)}"
    refusals = {
        "+a+": "contains a space",  # the space is part of what was sent, not trimmed
        "+long-enough+": "contains a space",
        "short7c": "shorter than 8 characters",
        "y" * 21: "longer than 20 characters",
        "p%C3%A4sswort&encode=utf8": "printable ASCII",
        "tab%09tab-tab": "printable ASCII",
        "": "missing",
    }
    for newpwd, reason in refusals.items():
        with capture_logs() as logs:
            assert await call(daemon, "/ent/", f"{old}&newpwd={newpwd}") == b"-1", newpwd
        [refusal] = [e for e in logs if e["event"] == "password_change_refused"]
        assert reason in refusal["reason"], (newpwd, refusal)
        for secret in ("long-enough", "short7c", "y" * 21, "sswort"):
            assert secret not in repr(logs)
        assert await call(daemon, "/qreport/", auth()) == b"0"  # unchanged

    with capture_logs() as logs:
        wrong = f"cpid={CPID}&oldpwd={md5('nope')}&newpwd=good-pass"
        assert await call(daemon, "/ent/", wrong) == b"-1"
    assert [e["reason"] for e in logs if e["event"] == "password_change_refused"] == [
        "wrong oldpwd"
    ]

    new = "x!~" + "9" * 17  # 20 characters, the edges of printable ASCII
    assert await call(daemon, "/ent/", f"{old}&newpwd={new}") == b"0"
    assert await call(daemon, "/qreport/", auth()) == b"-1"
    assert await call(daemon, "/qreport/", auth(md5(new))) == b"0"


async def test_an_operator_resets_a_changed_password(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    daemon = await start_daemon(config(tmp_path, esms100))
    ent = f"cpid={CPID}&oldpwd={md5(PASSWORD)}&newpwd=forgotten-pass"
    assert await call(daemon, "/ent/", ent) == b"0"
    assert await call(daemon, "/qreport/", auth()) == b"-1"

    path = f"/admin/clients/{CPID}/password/reset"
    assert (await admin_post(daemon, path, token=False))[0] == 401
    assert await admin_post(daemon, path) == (200, {"client": CPID, "ent_password_dropped": True})
    assert await call(daemon, "/qreport/", auth()) == b"0"
    assert await call(daemon, "/qreport/", auth(md5("forgotten-pass"))) == b"-1"
    assert await admin_post(daemon, path) == (200, {"client": CPID, "ent_password_dropped": False})
    assert (await admin_post(daemon, "/admin/clients/nobody/password/reset"))[0] == 404


async def test_a_reset_on_one_daemon_works_on_another_sharing_redis(
    start_daemon: DaemonFactory,
    esms100: SimulatorServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    c = config(tmp_path, esms100)
    c["state"] = {
        "engine": "redis",
        "redis_url": redis_server.url,
        "redis_prefix": f"cred-{uuid.uuid4().hex[:8]}:",
    }
    a, b = await start_daemon(c), await start_daemon(c)
    ent = f"cpid={CPID}&oldpwd={md5(PASSWORD)}&newpwd=forgotten-pass"
    assert await call(a, "/ent/", ent) == b"0"
    assert await call(b, "/qreport/", auth(md5("forgotten-pass"))) == b"0"
    assert await admin_post(a, f"/admin/clients/{CPID}/password/reset") == (
        200,
        {"client": CPID, "ent_password_dropped": True},
    )
    assert await call(b, "/qreport/", auth()) == b"0"  # at once
    await b.engine.clients.refresh()
    assert await call(b, "/qreport/", auth(md5("forgotten-pass"))) == b"-1"

    # Guesses through A lock the address out at B as well (with the failure
    # just above, B's: five).
    for n in range(4):
        assert await call(a, "/qreport/", auth(md5(f"guess{n}"))) == b"-1"
    assert await call(a, "/qreport/", auth()) == b"-9"
    # B saw a failure of this address, so asks Redis before the password.
    assert await call(b, "/qreport/", auth()) == b"-9"
    assert await call(b, "/qreport/", auth(), ELSEWHERE) == b"0"


async def test_a_password_an_older_version_stored_plain_still_works_and_is_salted(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    c = config(tmp_path, esms100)
    old = await SqliteStore.open(Path(c["state"]["path"]))
    await old.passwords.set_password_digest(CPID, md5("changed-long-ago"))  # as it was kept before
    await old.close()
    daemon = await start_daemon(c)
    assert await call(daemon, "/qreport/", auth(md5("changed-long-ago"))) == b"0"
    assert await call(daemon, "/qreport/", auth()) == b"-1"
    stored = await daemon.state.store.passwords.password_digest(CPID)
    assert stored is not None and stored.startswith("sha256$"), stored
    assert await call(daemon, "/qreport/", auth(md5("changed-long-ago"))) == b"0"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_state_files_are_readable_by_their_owner_only(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    c = config(tmp_path, esms100)
    daemon = await start_daemon(c)
    assert await call(daemon, "/ent/", f"cpid={CPID}&oldpwd={md5(PASSWORD)}&newpwd=n3w-pass1") == (
        b"0"
    )
    state = tmp_path / "state.sqlite3"
    files = [state, Path(f"{state}-wal"), Path(f"{state}-shm"), spool_path(daemon.settings)]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    # What the file holds of the password does not work as a cppwd.
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        [(stored,)] = db.execute("SELECT digest FROM client_passwords").fetchall()
    assert md5("n3w-pass1") not in stored.upper()
    assert await call(daemon, "/qreport/", auth(stored)) == b"-1"
    await daemon.stop()

    # Files an older version left readable by others are tightened at start.
    for f in files:
        if f.exists():
            os.chmod(f, 0o644)
    again = await start_daemon(c)
    assert {f.name: mode(f) for f in files if f.exists()} == {
        f.name: 0o600 for f in files if f.exists()
    }
    assert await call(again, "/qreport/", auth(md5("n3w-pass1"))) == b"0"


async def test_run_warns_of_a_config_others_may_read_that_holds_secrets(
    esms100: SimulatorServer, tmp_path: Path
) -> None:
    c = config(tmp_path, esms100)
    path = tmp_path / "smsproxy.toml"
    sections = {k: c[k] for k in ("listen", "state", "admin", "login")}
    write_config(path, sections, {"clients": c["clients"], "vendors": c["vendors"]})
    os.chmod(path, 0o644)
    proc = DaemonProcess(path, tmp_path)
    await proc.start()
    await proc.stop()
    [warning] = [e for e in proc.log_events() if e["event"] == "config_readable_by_others"]
    assert warning["level"] == "warning" and warning["mode"] == "0o644"
    assert warning["secrets"] == [
        "admin.token",
        "clients[0].password",
        "clients[1].password",
        "vendors[0].password",
    ]
    logged = path.with_name("daemon-1.log").read_text(encoding="utf-8")
    for secret in (PASSWORD, OTHER_PASSWORD, str(c["admin"]["token"])):
        assert secret not in logged

    os.chmod(path, 0o600)
    await proc.start()
    await proc.stop()
    assert not [e for e in proc.log_events(2) if e["event"] == "config_readable_by_others"]
