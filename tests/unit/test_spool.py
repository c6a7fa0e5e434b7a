"""The poll spool: an answer kept before it is parsed survives until it is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.send import HttpRequest, HttpResponse
from proxy.ingest.spool import PollSpool, SpoolInUse

REQUEST = HttpRequest("GET", "/qreport/", "cpid=a&cppwd=B")
ANSWER = HttpResponse(200, "2\n2026-11-27 10:00:00||13800138000||1".encode("gbk"), "text/plain")


def test_what_was_kept_and_not_stored_is_left_over(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3.polls"
    spool = PollSpool(path)
    spool.keep("esms100", REQUEST, ANSWER)
    spool.close()  # the daemon dies here
    again = PollSpool(path)
    (left,) = again.left_over()
    assert (left.account, left.request, left.response) == ("esms100", REQUEST, ANSWER)
    again.clear()
    assert again.left_over() == []
    assert path.stat().st_mode & 0o777 == 0o600  # it may hold message texts


def test_stored_answers_are_forgotten_once_none_is_open(tmp_path: Path) -> None:
    spool = PollSpool(tmp_path / "s.polls")
    spool.keep("a", REQUEST, ANSWER)
    spool.keep("b", REQUEST, ANSWER)
    spool.stored()
    assert len(spool.left_over()) == 2  # b is not stored yet: both stay
    spool.stored()
    assert spool.left_over() == []


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.polls"
    spool = PollSpool(path)
    spool.keep("a", REQUEST, ANSWER)
    spool.close()
    with path.open("ab") as f:
        f.write(b'["b", "GET", "/qre')  # killed in the middle of a write
    assert [k.account for k in PollSpool(path).left_over()] == ["a"]


def test_two_daemons_cannot_share_one_spool(tmp_path: Path) -> None:
    first = PollSpool(tmp_path / "s.polls")
    with pytest.raises(SpoolInUse, match=r"reports\.spool_path"):
        PollSpool(tmp_path / "s.polls")
    first.close()
    PollSpool(tmp_path / "s.polls").close()  # free again once the first is gone


def test_daemons_in_one_directory_each_take_a_free_spool(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3.polls"
    first = PollSpool.first_free(path)
    second = PollSpool.first_free(path)
    assert (first.path, second.path) == (path, tmp_path / "state.sqlite3.polls.2")
    second.keep("esms100", REQUEST, ANSWER)
    second.close()  # this daemon dies with an answer kept
    # The next daemon to start takes its spool, and stores what it left.
    third = PollSpool.first_free(path)
    assert third.path == second.path and len(third.left_over()) == 1
