"""The deployment examples in ``deploy/``, as the tests run them: the same files, ports swapped.

The README's "Running several daemons" points at these files; the tests load
them and replace only what a private run must (addresses, ports, directories,
passwords, shorter timers), each replacement checked to have happened, so an
edit of the guide that the tests do not follow fails them.
"""

from __future__ import annotations

from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


class TemplateDrift(AssertionError):
    """A line the tests replace is no longer in the deploy file."""


def deploy_file(name: str, replace: dict[str, str]) -> str:
    """``deploy/NAME`` with each key replaced by its value; every key must occur."""
    text = (DEPLOY / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        if old not in text:
            raise TemplateDrift(f"deploy/{name} no longer holds {old!r}: update the tests too")
        text = text.replace(old, new)
    return text
