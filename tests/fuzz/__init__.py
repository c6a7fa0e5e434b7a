"""Fuzzing the legacy port: seeded cases, an oracle, a runner (issue 14).

Every case is made from ``(seed, index)`` alone (:mod:`tests.fuzz.cases`), so
a failing one is replayed by its two numbers.  Parameter-level cases
(:mod:`tests.fuzz.params`) are esms100 requests with odd fields; raw-HTTP
cases (:mod:`tests.fuzz.raw_http`) are odd bytes on a connection.  The
runner (:mod:`tests.fuzz.runner`) writes them over a bounded number of
connections and the oracle (:mod:`tests.fuzz.oracle`) judges every answer;
:mod:`tests.fuzz.target` starts the daemon under test, or points at a
running one, and judges what the run did to it (memory, log, a last send).

``test_fuzz_legacy.py`` runs a few thousand cases in ``./dev test``; a
longer run::

    .venv/bin/python -m tests.fuzz --cases 100000 --seed 7
"""
