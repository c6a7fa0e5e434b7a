"""``python -m bench``: what one smsproxy carries, against a bare pass-through.

Every component runs as its own process on loopback: the stub vendors
(:mod:`bench.stub`), the daemon (``python -m proxy.cli run``), the bare
aiohttp pass-through baseline (:mod:`bench.passthrough`) and the load
generator (:mod:`bench.load`, or ``wrk`` through :mod:`bench.wrk`).
:mod:`bench.workloads` runs the five workloads of issue #7 and
:mod:`bench.report` prints the table and checks the targets.
"""
