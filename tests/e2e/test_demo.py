"""``omnihub demo`` from the command line: finishes, converges, names the e-mail it wrote."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

from hub.cli.demo import CREDENTIALS
from tests.e2e.conftest import Cli


def test_demo_runs_to_the_end_and_writes_the_alert_email(cli: Cli, tmp_path: Path) -> None:
    started = time.monotonic()
    # A folder name rich would read as a markup tag: the paths printed must keep it.
    # At 80 columns, as a first terminal often is: tables wrap their values, they never cut them.
    result = cli("demo", "--dir", "out[demo]", env={"COLUMNS": "80"}, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 60
    output = result.stdout
    assert "0 mismatches left open" in output
    assert "[/]" not in output and "[bold]" not in output and "[red]" not in output
    assert "…" not in output, output
    eml = Path(re.search(r"would get: (\S+\.eml)", output).group(1))  # type: ignore[union-attr]
    html = Path(re.search(r"open it in a browser: (\S+\.html)", output).group(1))  # type: ignore[union-attr]
    assert eml == tmp_path / "out[demo]" / "alert-digest.eml" and html.exists()
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "JKT-ALPINE-M" in body and "marco.bianchi@example.com" in body
    assert "<table" in html.read_text()
    for secret in CREDENTIALS.values():
        assert secret not in output + result.stderr + eml.read_text() + html.read_text()
        assert secret not in (tmp_path / "out[demo]" / "omnihub.yaml").read_text()  # ${ENV} references only
