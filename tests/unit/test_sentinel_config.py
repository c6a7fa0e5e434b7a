"""[state] with Redis Sentinel: a redis+sentinel:// URL or the listed sentinels (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import ConfigError, settings_from
from proxy.cli import main

SECRET = "hunter2"


def state(**values: object) -> dict[str, object]:
    return {"state": {"engine": "redis", **values}}


def test_a_sentinel_url_names_the_sentinels_master_db_and_password() -> None:
    url = f"redis+sentinel://:{SECRET}@10.0.0.1:26380,10.0.0.2,[::1]:5/smsproxy/3"
    target = settings_from(state(redis_url=url), "c").state.redis_target()
    assert target is not None and target.url is None
    assert target.sentinels == (("10.0.0.1", 26380), ("10.0.0.2", 26379), ("::1", 5))
    assert (target.master, target.db, target.password) == ("smsproxy", 3, SECRET)
    assert SECRET not in repr(target) and SECRET not in target.where()


def test_listed_sentinels_are_the_same_target() -> None:
    target = settings_from(
        state(
            redis_sentinels=["10.0.0.1:26380", "10.0.0.2:26379"],
            redis_sentinel_master="smsproxy",
            redis_password=SECRET,
            redis_db=1,
        ),
        "c",
    ).state.redis_target()
    assert target is not None
    assert target.sentinels == (("10.0.0.1", 26380), ("10.0.0.2", 26379))
    assert (target.master, target.db, target.password) == ("smsproxy", 1, SECRET)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis_url": f"redis+sentinel://:{SECRET}@h:99999/m"}, "state.redis_url: "),
        ({"redis_url": f"redis+sentinel://:{SECRET}@h:1/"}, "ends in /MASTER"),
        ({"redis_url": f"redis+sentinel://:{SECRET}@/m"}, "at least one sentinel"),
        ({"redis_url": f"redis+sentinel://:{SECRET}@h/m/x"}, "is a number"),
        ({"redis_sentinels": ["h:1"]}, "state.redis_sentinel_master: required"),
        ({"redis_sentinel_master": "m"}, "state.redis_sentinels: required"),
        ({"redis_sentinels": ["h:port"], "redis_sentinel_master": "m"}, "state.redis_sentinels"),
        (
            {
                "redis_sentinels": ["h:1"],
                "redis_sentinel_master": "m",
                "redis_url": f"redis://:{SECRET}@h/0",
            },
            "not both",
        ),
        ({"redis_url": "redis://h/0", "redis_password": SECRET}, "state.redis_password: only"),
        ({"redis_min_replicas_acked": -1}, "state.redis_min_replicas_acked"),
        ({"redis_failover_wait_s": 1000}, "state.redis_failover_wait_s"),
    ],
)
def test_bad_sentinel_settings_name_the_option_and_never_the_secret(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from(state(**values), "c.toml")
    assert message in str(info.value)
    assert SECRET not in str(info.value)


def test_check_config_shows_the_sentinels_not_the_passwords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[state]\nengine = "redis"\nredis_sentinels = ["10.0.0.1:26379", "10.0.0.2:26379"]\n'
        f'redis_sentinel_master = "smsproxy"\nredis_password = "{SECRET}"\n'
        'redis_sentinel_password = "s3ntinel"\n',
        encoding="utf-8",
    )
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "state in redis at sentinel 10.0.0.1:26379,10.0.0.2:26379 master 'smsproxy'" in out
    assert SECRET not in out and "s3ntinel" not in out
