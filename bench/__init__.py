"""``python -m bench``: what one smsproxy carries, against a lean pass-through on its own stack.

Every component runs as its own process on loopback: the stub vendors
(:mod:`bench.stub`), the daemon (``python -m proxy.cli run``), the lean
pass-through baseline on the daemon's own HTTP server and client
(:mod:`bench.lean`), an aiohttp pass-through for reference
(:mod:`bench.passthrough`), Kannel as a peer when asked (:mod:`bench.kannel`)
and the load generator (:mod:`bench.load`, or ``wrk`` through
:mod:`bench.wrk`).  :mod:`bench.workloads` runs the workloads, one module
each, and :mod:`bench.report` prints the table and checks the targets.
"""
