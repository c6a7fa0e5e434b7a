"""deploy/smsproxy.service and smsproxy@.service: hardened, clean for ``systemd-analyze verify``.

``systemd-analyze verify`` wants the ``ExecStart`` binary to exist; the unit
names where the guide installs it (``/opt/smsproxy/bin/smsproxy``), which a
test machine does not have.  So each unit is verified as shipped (the only
complaint allowed: that binary is missing) and again with ``ExecStart``
pointing at this checkout's own ``smsproxy`` entry point (no complaint at
all).  verify exits 0 even on an unknown key, so the tests read its output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.deploy_files import DEPLOY

INSTALLED = "/opt/smsproxy/bin/smsproxy"
UNITS = {"smsproxy.service": "smsproxy.service", "smsproxy@.service": "smsproxy@a.service"}
HARDENING = (
    "Type=notify",
    "DynamicUser=yes",
    "StateDirectory=smsproxy",
    "ProtectSystem=strict",
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "LimitNOFILE=",
    "Restart=on-failure",
)


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    if not Path(found).exists():
        pytest.fail("systemd-analyze is missing (Debian's systemd package)", pytrace=False)
    return found


def verify(unit_dir: Path, name: str, exit_code: int = 0) -> str:
    """What ``systemd-analyze verify`` says of ``unit_dir/name`` (stdout and stderr)."""
    done = subprocess.run(  # noqa: S603 - our own file
        [systemd_analyze(), "verify", f"./{name}"],
        cwd=unit_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == exit_code, done.stderr
    return (done.stdout + done.stderr).strip()


def copy_unit(tmp_path: Path, file: str, text: str | None = None) -> None:
    (tmp_path / file).write_text(text or (DEPLOY / file).read_text(encoding="utf-8"))


def entry_point() -> str:
    script = Path(sys.executable).parent / "smsproxy"
    if not script.exists():
        pytest.fail(f"{script} is missing: pip install -e . makes it", pytrace=False)
    return str(script)


@pytest.mark.parametrize("file", list(UNITS))
def test_the_unit_verifies_clean_with_the_binary_in_place(tmp_path: Path, file: str) -> None:
    text = (DEPLOY / file).read_text(encoding="utf-8")
    assert f"ExecStart={INSTALLED} run --config " in text
    copy_unit(tmp_path, file, text.replace(INSTALLED, entry_point()))
    assert verify(tmp_path, UNITS[file]) == ""


@pytest.mark.parametrize("file", list(UNITS))
def test_as_shipped_only_the_install_path_is_missing(tmp_path: Path, file: str) -> None:
    copy_unit(tmp_path, file)
    said = verify(tmp_path, UNITS[file], exit_code=1).splitlines()
    assert said == [
        f"{UNITS[file]}: Command {INSTALLED} is not executable: No such file or directory"
    ]


@pytest.mark.parametrize("file", list(UNITS))
def test_the_unit_is_hardened(file: str) -> None:
    lines = (DEPLOY / file).read_text(encoding="utf-8").splitlines()
    for directive in HARDENING:
        assert any(line.startswith(directive) for line in lines), directive


def test_a_mistyped_directive_is_caught(tmp_path: Path) -> None:
    """The check above can fail: verify names a key it does not know."""
    text = (DEPLOY / "smsproxy.service").read_text(encoding="utf-8")
    broken = text.replace(INSTALLED, entry_point()).replace("ProtectSystem=", "ProtectSystme=")
    copy_unit(tmp_path, "smsproxy.service", broken)
    assert "Unknown key 'ProtectSystme'" in verify(tmp_path, "smsproxy.service")
