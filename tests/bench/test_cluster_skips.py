"""The cluster workload on a machine without HAProxy: the other setups run, the table says why.

``./dev bench`` installs haproxy only as root; anyone else gets the bench
without it, which must still run and name what is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import haproxy
from bench.report import machine, render
from bench.workloads import Bench, Sizes, run_workloads


def test_without_haproxy_the_cluster_workload_runs_the_rest_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(haproxy, "binary", lambda: None)
    bench = Bench(tmp_path, Sizes.quick_mode(), use_wrk=False)
    (workload,) = run_workloads(bench, ["cluster"])
    assert workload.error is None, workload.error
    assert {"sqlite", "redis"} <= set(workload.raw)
    assert not {"haproxy1", "haproxy2"} & set(workload.raw)
    assert any(haproxy.INSTALL_HINT in note for note in workload.notes), workload.notes
    table = render([workload], machine(), quick=True, command="test")
    assert "Redis / SQLite: sends/s" in table
    assert "HAProxy:" not in table and "HAProxy / direct" not in table
    assert "targets: 6 of 6 passed" in table
