"""docs/contract.md is what scripts outside the repository rely on: its examples must stay true
to the code (the YAML loads, the JSON names only fields the hub writes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hub.config.loader import load_config
from hub.sync.report import JobReport
from tests.conftest import TEST_SECRETS

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"


def _block(language: str) -> str:
    """The one fenced block of ``language`` in the contract."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```", CONTRACT.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, f"expected one {language} example in {CONTRACT.name}, found {len(blocks)}"
    return blocks[0]


def test_the_yaml_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "omnihub.yaml"
    path.write_text(_block("yaml"), encoding="utf-8")
    names = ("SHOPIFY_TOKEN", "WC_KEY", "WC_SECRET", "HUBSPOT_TOKEN", "MAILCHIMP_KEY", "WMS_KEY")
    config = load_config(path, env=dict(zip(names, TEST_SECRETS, strict=False)))
    assert set(config.connectors) == {"shop", "web", "wms", "crm", "news", "feed"}
    assert set(config.jobs) == {"stock", "prices", "customers"}


def test_the_sync_json_example_names_only_fields_a_job_report_has() -> None:
    example = json.loads(_block("json"))
    written = JobReport("stock", "stock").as_json()
    for job in example["jobs"]:
        assert set(job) <= set(written), set(job) - set(written)
