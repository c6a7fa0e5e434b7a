"""A private Redis master, two replicas and three sentinels, from ``deploy/``'s files.

Debian's ``redis-server`` and ``redis-sentinel`` (installed by ``./dev``) on
free loopback ports, every file in the test's directory.  The sentinels
monitor the master as ``smsproxy`` with a quorum of 2 and call a master down
after :data:`DOWN_AFTER_MS` (the deployed example says 5000: a test waits less).
Passwords on both the data nodes and the sentinels, so a test can look for
them in what the daemon prints.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
from pathlib import Path

import pytest
import redis

from bench.deploy_files import deploy_file
from bench.procs import Child, ChildFailed
from tests.e2e.daemon_process import free_port

MASTER_NAME = "smsproxy"
REDIS_PASSWORD = "redis-secret-8c1f"
SENTINEL_PASSWORD = "sentinel-secret-42d7"
# Above the sentinels' ping period (1 s): at 1000 a sentinel on a loaded host
# once called a just-promoted master down a second after the promotion, and
# the second failover left no master with a replica for 6 s (a CI run).
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 5000
START_TIMEOUT_S = 15.0
# Two, so that writes waiting for one replica (state.redis_min_replicas_acked)
# still have one once a replica is promoted in place of a dead master.
REPLICAS = 2


class SentinelSet:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.nodes: dict[int, Child] = {}  # data nodes by port
        self.sentinels: dict[int, Child] = {}
        self.first_master = 0

    def __repr__(self) -> str:
        return f"<SentinelSet nodes={list(self.nodes)} sentinels={list(self.sentinels)}>"

    # --- start ---------------------------------------------------------------------------

    def start(self) -> SentinelSet:
        for binary in ("redis-server", "redis-sentinel"):
            if shutil.which(binary) is None:
                pytest.fail(
                    f"{binary} is not installed: run ./dev test, which installs Debian's "
                    "redis-server and redis-sentinel packages",
                    pytrace=False,
                )
        master = free_port()
        self.first_master = master
        self._start_node(master, replica_of=None)
        for _ in range(REPLICAS):
            self._start_node(free_port(), replica_of=master)
        self.wait_replicas(REPLICAS, START_TIMEOUT_S)
        for _ in range(3):
            self._start_sentinel(free_port(), master)
        return self

    def _start_node(self, port: int, replica_of: int | None) -> None:
        home = self.workdir / f"redis-{port}"
        home.mkdir(exist_ok=True)
        text = deploy_file(
            "redis.conf",
            {
                "bind 10.0.0.11": "bind 127.0.0.1",
                "port 6379": f"port {port}",
                "CHANGE-ME-REDIS-PASSWORD": REDIS_PASSWORD,
                "# replicaof 10.0.0.11 6379": f"replicaof 127.0.0.1 {replica_of}"
                if replica_of
                else "",
            },
        )
        conf = home / "redis.conf"
        conf.write_text(f'{text}\ndir {home}\nsave ""\nloglevel warning\n', encoding="utf-8")
        child = Child.start(f"redis-server :{port}", ["redis-server", str(conf)], log=home / "log")
        client = self.node(port)
        try:
            child.wait_ready(functools.partial(_pong, client), START_TIMEOUT_S, interval_s=0.05)
        finally:
            client.close()
        self.nodes[port] = child

    def _start_sentinel(self, port: int, master: int) -> None:
        home = self.workdir / f"sentinel-{port}"
        home.mkdir(exist_ok=True)
        text = deploy_file(
            "sentinel.conf",
            {
                "port 26379": f"port {port}",
                "bind 10.0.0.21": "bind 127.0.0.1",
                "dir /var/lib/redis": f"dir {home}",
                "10.0.0.11 6379": f"127.0.0.1 {master}",
                "CHANGE-ME-REDIS-PASSWORD": REDIS_PASSWORD,
                "CHANGE-ME-SENTINEL-PASSWORD": SENTINEL_PASSWORD,
                "down-after-milliseconds smsproxy 5000": f"down-after-milliseconds smsproxy "
                f"{DOWN_AFTER_MS}",
                "failover-timeout smsproxy 30000": f"failover-timeout smsproxy "
                f"{FAILOVER_TIMEOUT_MS}",
            },
        )
        conf = home / "sentinel.conf"  # Sentinel rewrites its file: each its own
        conf.write_text(text, encoding="utf-8")
        child = Child.start(
            f"redis-sentinel :{port}", ["redis-sentinel", str(conf)], log=home / "log"
        )
        client = self.sentinel_client(port)
        try:
            child.wait_ready(functools.partial(_pong, client), START_TIMEOUT_S, interval_s=0.05)
        finally:
            client.close()
        self.sentinels[port] = child

    # --- clients -------------------------------------------------------------------------

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=REDIS_PASSWORD, socket_timeout=1.0)

    def sentinel_client(self, port: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=port, password=SENTINEL_PASSWORD, socket_timeout=1.0
        )

    @property
    def sentinel_addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinels]

    def state_settings(self, **extra: object) -> dict[str, object]:
        """The daemon's ``[state]`` for this set, as the README's example has it."""
        return {
            "engine": "redis",
            "redis_sentinels": self.sentinel_addresses,
            "redis_sentinel_master": MASTER_NAME,
            "redis_password": REDIS_PASSWORD,
            "redis_sentinel_password": SENTINEL_PASSWORD,
            **extra,
        }

    def master_port(self) -> int:
        """The master's port as the sentinels' majority says it now."""
        votes: dict[int, int] = {}
        for port in self.sentinels:
            client = self.sentinel_client(port)
            try:
                host_port = client.execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME
                )
                votes[int(host_port[1])] = votes.get(int(host_port[1]), 0) + 1
            except redis.RedisError:
                continue
            finally:
                client.close()
        return max(votes, key=lambda p: votes[p]) if votes else 0

    def wait_replicas(self, count: int, timeout_s: float, master: int | None = None) -> None:
        port = master or self.first_master
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.replicas_online(port) >= count:
                return
            time.sleep(0.05)
        raise ChildFailed(f"redis :{port} had no {count} replica(s) online in {timeout_s:g} s")

    async def wait_replicas_async(self, count: int, timeout_s: float, master: int) -> None:
        """:meth:`wait_replicas` without blocking the loop (a test's load runs on it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.replicas_online(master) >= count:
                return
            await asyncio.sleep(0.05)
        raise ChildFailed(f"redis :{master} had no {count} replica(s) online in {timeout_s:g} s")

    def replicas_online(self, port: int) -> int:
        client = self.node(port)
        try:
            info = client.info("replication")
        except redis.RedisError:
            return 0
        finally:
            client.close()
        return sum(
            1
            for key, value in info.items()
            if key.startswith("slave")
            and isinstance(value, dict)
            and value.get("state") == "online"
        )

    # --- faults --------------------------------------------------------------------------

    def failover(self) -> int:
        """``SENTINEL FAILOVER``: the old master is demoted; the old master's port."""
        old = self.master_port()
        client = self.sentinel_client(next(iter(self.sentinels)))
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                try:
                    client.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
                    return old
                except redis.ResponseError as exc:
                    # Just started, the sentinel has not yet heard from the replicas.
                    if "NOGOODSLAVE" not in str(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(0.1)
        finally:
            client.close()

    def kill_master(self) -> int:
        """SIGKILL the master of the moment; its port."""
        old = self.master_port()
        self.nodes[old].kill()
        self.nodes[old].wait(5.0)
        return old

    async def restart(self, port: int) -> None:
        """Start a killed node again on its port and files; the sentinels make it a replica."""
        await self.nodes[port].wait_async(5.0)
        conf = self.workdir / f"redis-{port}" / "redis.conf"
        child = Child.start(
            f"redis-server :{port}", ["redis-server", str(conf)], log=conf.parent / "log.2"
        )
        client = self.node(port)
        try:
            await child.wait_ready_async(functools.partial(_pong, client), START_TIMEOUT_S)
        finally:
            client.close()
        self.nodes[port] = child

    async def wait_new_master(self, old: int, timeout_s: float) -> int:
        """The new master's port, once every sentinel names one other than ``old``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ports = set()
            for port in self.sentinels:
                client = self.sentinel_client(port)
                try:
                    addr = client.execute_command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME
                    )
                    ports.add(int(addr[1]))
                except redis.RedisError:
                    ports.add(0)
                finally:
                    client.close()
            if len(ports) == 1 and old not in ports and 0 not in ports:
                new = ports.pop()
                if _role(self.node(new)) == "master":
                    return new
            await asyncio.sleep(0.1)
        raise ChildFailed(f"the sentinels named no new master in {timeout_s:g} s")

    def stop(self) -> None:
        for child in [*self.sentinels.values(), *self.nodes.values()]:
            child.stop(grace_s=3.0)

    def logs(self) -> str:
        return "\n".join(
            f"--- {c.name}\n{c.tail(8)}" for c in [*self.nodes.values(), *self.sentinels.values()]
        )


def _pong(client: redis.Redis) -> bool | None:
    try:
        return True if client.ping() else None
    except redis.RedisError:
        return None


def _role(client: redis.Redis) -> str:
    try:
        return str(client.info("replication").get("role", ""))
    except redis.RedisError:
        return ""
    finally:
        client.close()
