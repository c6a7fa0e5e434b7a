"""The deployment examples in ``deploy/``, as the tests and the bench run them: ports swapped.

The README's "Running several daemons" points at these files; the tests
(``tests/cluster``) and the bench's cluster workload load them and replace
only what a private run must (addresses, ports, directories, passwords,
shorter timers), each replacement checked to have happened, so an edit of
the guide that they do not follow fails them.  It lives in the bench because
the bench may not import the tests, while the tests may import the bench.
"""

from __future__ import annotations

from bench.components import ROOT

DEPLOY = ROOT / "deploy"


class TemplateDrift(AssertionError):
    """A line the tests or the bench replace is no longer in the deploy file."""


def deploy_file(name: str, replace: dict[str, str]) -> str:
    """``deploy/NAME`` with each key replaced by its value; every key must occur."""
    text = (DEPLOY / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        if old not in text:
            raise TemplateDrift(
                f"deploy/{name} no longer holds {old!r}: update the tests and the bench too"
            )
        text = text.replace(old, new)
    return text
