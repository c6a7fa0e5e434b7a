"""Fuzzing the legacy port: seeded cases, an oracle, a runner (issue 14).

Every case is made from ``(seed, index)`` alone (:mod:`tests.fuzz.cases`,
the types in :mod:`tests.fuzz.case`), so a failing one is replayed by its
two numbers.  Parameter-level cases (:mod:`tests.fuzz.params`, their values
from :mod:`tests.fuzz.values`) are esms100 requests with odd fields, and
carry the codes their fields allow (:mod:`tests.fuzz.expect`); raw-HTTP
cases (:mod:`tests.fuzz.raw_http`) are odd bytes on a connection.  The
runner (:mod:`tests.fuzz.runner`) plays them over a bounded number of
connections, reads the answers strictly (:mod:`tests.fuzz.answers`) and has
the oracle (:mod:`tests.fuzz.oracle`) judge them; :mod:`tests.fuzz.target`
starts the daemon under test or points at a running one, and
:mod:`tests.fuzz.campaign` judges what a run did to it (memory, log, a good
send before and after).

``test_fuzz_legacy.py`` runs a few thousand cases in ``./dev test``;
``test_fuzz_findings.py`` keeps what fuzzing found.  A longer run::

    .venv/bin/python -m tests.fuzz --cases 100000 --seed 7
"""
