"""Log lines: one JSON format for ours and the standard library's, secrets masked at any depth."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from proxy.logging import configure_logging
from tests.conftest import plain_structlog


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", json=True, stream=stream)
    yield stream
    plain_structlog()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_a_standard_library_record_is_a_json_line_like_ours(
    json_logs: io.StringIO,
) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
    structlog.get_logger("smsproxy.x").warning("ours", vendor="c123")
    theirs, ours = lines(json_logs)
    assert theirs["event"] == "Task exception was never retrieved"
    assert theirs["level"] == "error"
    assert theirs["logger"] == "asyncio"
    assert "ValueError: boom" in str(theirs["exception"])
    assert ours["event"] == "ours" and ours["vendor"] == "c123"
    assert set(theirs) >= {"timestamp"} and set(ours) >= {"timestamp"}


def test_secrets_are_masked_at_any_depth(json_logs: io.StringIO) -> None:
    structlog.get_logger("smsproxy.x").info(
        "config",
        vendor={"name": "c123", "password": "s3cret", "nested": [{"authkey": "k3y"}]},
        cppwd="ABCDEF",
    )
    [line] = lines(json_logs)
    assert "s3cret" not in json.dumps(line) and "k3y" not in json.dumps(line)
    assert line["cppwd"] == "***"
    assert line["vendor"] == {"name": "c123", "password": "***", "nested": [{"authkey": "***"}]}


def test_a_standard_library_record_below_the_level_is_dropped(
    json_logs: io.StringIO,
) -> None:
    logging.getLogger("redis").debug("chatter")
    assert lines(json_logs) == []
