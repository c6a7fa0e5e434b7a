"""A send whose routing fails unexpectedly: answered -110, and what it reserved goes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.simulator import SimulatorServer
from routing.router import Router
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config, esms100_vendor
from tests.e2e.legacy_client import LegacyClient


async def test_a_send_routing_failed_gives_its_quota_back(
    tmp_path: Path,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only a busy store gave the quota back; any other failure kept it spent
    # for a message no vendor got.
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["clients"][0]["quota"] = 10
    daemon = await start_daemon(config)

    async def broken(self: Any, *args: Any) -> Any:
        raise RuntimeError("a defect in routing")

    monkeypatch.setattr(Router, "route", broken)
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    assert await client.send("13900000005", "【ACME】您的验证码是 5") == b"-110"
    assert esms100.simulator.phones_of() == []
    assert await daemon.state.store.quotas.quota_used(CPID) == 0
