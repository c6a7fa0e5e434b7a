"""``python -m proxy.bench``: what one smsproxy carries, against a bare pass-through.

Every component runs as its own process on loopback: the stub vendors
(:mod:`proxy.bench.stub`), the daemon (``python -m proxy.cli run``), the bare
aiohttp pass-through baseline (:mod:`proxy.bench.passthrough`) and the load
generator (:mod:`proxy.bench.load`, or ``wrk`` through :mod:`proxy.bench.wrk`).
:mod:`proxy.bench.workloads` runs the five workloads of issue #7 and
:mod:`proxy.bench.report` prints the table and checks the targets.
"""
