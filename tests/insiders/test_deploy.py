"""deploy/: the systemd unit is valid and hardened, the cron line keeps a `$` in a password as it is."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from insiders.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"


def _unit(path: Path) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_the_service_is_hardened_and_names_no_folder_that_may_not_exist():
    unit = _unit(DEPLOY / "insiders.service")
    assert "ReadWritePaths" not in unit  # a missing folder there makes the unit fail to start
    assert unit["StateDirectory"] == ["insiders"]  # systemd creates /var/lib/insiders for the user
    for key, value in {
        "UMask": "0077", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
    }.items():  # fmt: skip
        assert unit.get(key) == [value], key
    assert re.fullmatch(r"\d+[KMG]", unit["MemoryMax"][0])
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    written = [
        v.split("=", 1)[1]
        for v in unit["Environment"]
        if v.split("=", 1)[0].endswith(("_HOME", "_DIR", "_PATH"))
    ]
    assert written and all(path.startswith("/var/lib/insiders") for path in written)  # not in the code


def test_systemd_accepts_every_line_of_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    service = (DEPLOY / "insiders.service").read_text()
    service = re.sub(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", service)  # the venv is not installed here
    (tmp_path / "insiders.service").write_text(service)
    shutil.copy(DEPLOY / "insiders.timer", tmp_path / "insiders.timer")
    out = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "insiders.service"), str(tmp_path / "insiders.timer")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    problems = [
        line for line in out.stderr.splitlines() if re.search(r"Unknown|Invalid|Failed|bad-setting", line)
    ]
    assert out.returncode == 0 and not problems, out.stderr


def test_the_cron_line_exports_a_password_with_a_dollar_as_it_is(tmp_path):
    [line] = [x for x in (DEPLOY / "insiders.cron").read_text().splitlines() if x and x[0].isdigit()]
    fields = line.split(None, 6)
    assert fields[5] == "insiders" and "%" not in fields[6]
    env_file = tmp_path / "insiders.env"
    password = "p$HOME`id`\\$1x"
    env_file.write_text(
        f"# comment\n\nINSIDERS_BI_PASSWORD={password}\n"
        "INSIDERS_DATABASE_URL=postgresql://u:pa$$word@db:5432/insiders?sslmode=verify-full&sslrootcert=/ca.pem\n"
    )
    command = (
        fields[6]
        .replace("cd /opt/insiders", f"cd {PROJECT_ROOT}")
        .replace("/var/lib/insiders/cron.lock", str(tmp_path / "cron.lock"))
        .replace("/etc/insiders/insiders.env", str(env_file))
        .replace(
            ".venv/bin/insiders --log-format json run",
            "printenv INSIDERS_BI_PASSWORD INSIDERS_DATABASE_URL INSIDERS_HOME",
        )
        .replace("/var/log/insiders/insiders.log", str(tmp_path / "insiders.log"))
    )
    assert subprocess.run(["sh", "-c", command], timeout=30).returncode == 0
    assert (tmp_path / "insiders.log").read_text().splitlines() == [
        password,
        "postgresql://u:pa$$word@db:5432/insiders?sslmode=verify-full&sslrootcert=/ca.pem",
        "/var/lib/insiders",
    ]


def test_the_runbook_installs_without_the_dev_extras():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = makefile.split("\ninstall-prod:", 1)[1].split("\n\n", 1)[0]
    assert "pip install" in recipe and "-c constraints.txt" in recipe and "[dev]" not in recipe
    readme = (PROJECT_ROOT / "README.md").read_text()
    runbook = readme.split("## Deploying on a VM (runbook)", 1)[1].split("\n## ", 1)[0]
    assert "make -C /opt/insiders install-prod" in runbook
    assert "chown -R insiders" not in runbook  # the code stays root's
