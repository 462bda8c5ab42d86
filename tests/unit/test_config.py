"""The hub's YAML configuration: the DESIGN.md example loads; every mistake is a located problem."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hub.config.durations import MAX_DURATION, parse_duration, parse_schedule
from hub.config.loader import load_config, load_state_location
from hub.config.schema import config_json_schema
from hub.errors import ConfigError, ConfigProblem
from hub.model.base import Entity
from hub.ops.scheduler import trigger_for
from hub.redact import redact, secrets
from tests.conftest import TEST_SECRETS

SHOPIFY, WOO_KEY, WOO_SECRET, HUBSPOT, MAILCHIMP, WMS, SMTP, SQUARE = TEST_SECRETS

ENV = {
    "SHOPIFY_TOKEN": SHOPIFY,
    "WC_KEY": WOO_KEY,
    "WC_SECRET": WOO_SECRET,
    "WMS_KEY": WMS,
    "HUBSPOT_TOKEN": HUBSPOT,
    "MAILCHIMP_KEY": MAILCHIMP,
}

#: The example of DESIGN.md (one long line wrapped to fit 120 columns).
EXAMPLE = """\
version: 1
hub:
  database: sqlite:///omnihub.db        # any SQLAlchemy URL
  currency: EUR
connectors:
  shop:  {type: shopify, shop: my-shop.myshopify.com, access_token: "${SHOPIFY_TOKEN}", api_version: "2025-10",
          locations: {"gid://shopify/Location/1": milano-store}}
  web:   {type: woocommerce, url: "https://shop.example.com", consumer_key: "${WC_KEY}",
          consumer_secret: "${WC_SECRET}", location: web-warehouse}
  wms:   {type: rest_wms, base_url: "https://wms.example.com/api", api_key: "${WMS_KEY}"}
  crm:   {type: hubspot, access_token: "${HUBSPOT_TOKEN}"}
  news:  {type: mailchimp, api_key: "${MAILCHIMP_KEY}", list_id: "a1b2c3"}
  feed:  {type: csv, path: exports/prices.csv}
truth:            # which connector is authoritative for each entity
  products: shop
  prices: shop
  stock: wms
  customers: crm
jobs:
  stock:     {entity: stock,     targets: [shop, web], schedule: "*/5 * * * *", mode: enforce}
  prices:    {entity: prices,    targets: [web],       schedule: "every 15m",   mode: monitor}
  customers: {entity: customers, targets: [news, shop], schedule: "0 * * * *",  mode: enforce}
alerts:
  email: {smtp_host: localhost, smtp_port: 25, starttls: false, username: null, password: null,
          sender: omnihub@example.com, recipients: [ops@example.com]}
  thresholds: {price: "0.01", stock: 0}
  renotify_after: 24h
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "omnihub.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV if env is None else env)
    message = str(info.value)
    for secret in TEST_SECRETS:
        assert secret not in message  # no error ever echoes a credential
    for problem in info.value.problems:
        assert problem.file == str(path)
    return info.value.problems


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _col_of(text: str, needle: str) -> int:
    return text.splitlines()[_line_of(text, needle) - 1].index(needle) + 1


# ------------------------------------------------------------------ the example


def test_design_example_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, EXAMPLE), env=ENV)
    assert set(config.connectors) == {"shop", "web", "wms", "crm", "news", "feed"}
    assert {name: s.type for name, s in config.connectors.items()} == {
        "shop": "shopify",
        "web": "woocommerce",
        "wms": "rest_wms",
        "crm": "hubspot",
        "news": "mailchimp",
        "feed": "csv",
    }
    shop: Any = config.connectors["shop"]
    assert isinstance(shop.access_token, SecretStr)
    assert shop.access_token.get_secret_value() == SHOPIFY
    assert SHOPIFY not in repr(shop)
    assert shop.locations == {"gid://shopify/Location/1": "milano-store"}
    assert config.hub.currency == "EUR"
    assert config.jobs["stock"].entity is Entity.stock
    assert config.jobs["stock"].mode == "enforce"
    assert config.jobs["prices"].mode == "monitor"
    assert config.source_of(config.jobs["stock"]) == "wms"
    assert config.source_of(config.jobs["customers"]) == "crm"
    assert config.alerts.renotify_after == timedelta(hours=24)
    assert config.alerts.thresholds.price == Decimal("0.01")
    assert config.alerts.email is not None
    assert config.alerts.email.recipients == ["ops@example.com"]
    # every interpolated secret is now known to the redactor
    assert set(ENV.values()) <= secrets()


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, EXAMPLE), env=ENV)
    assert config.database_url() == f"sqlite:///{tmp_path.resolve() / 'omnihub.db'}"
    assert config.resolve_path("exports/prices.csv") == tmp_path.resolve() / "exports/prices.csv"
    assert config.resolve_path("/abs/file.csv") == Path("/abs/file.csv")
    memory = load_config(_write(tmp_path, EXAMPLE.replace("sqlite:///omnihub.db", '"sqlite:///:memory:"')), env=ENV)
    assert memory.database_url() == "sqlite:///:memory:"
    absolute = load_config(_write(tmp_path, EXAMPLE.replace("sqlite:///omnihub.db", "sqlite:////var/x.db")), env=ENV)
    assert absolute.database_url() == "sqlite:////var/x.db"


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "https://127.9.8.7", "https://[::1]:8443/api", "https://localhost:8443"]
)
def test_verify_tls_off_with_a_loopback_base_url_is_allowed(tmp_path: Path, base_url: str) -> None:
    text = EXAMPLE.replace('base_url: "https://wms.example.com/api"', f'base_url: "{base_url}", verify_tls: false')
    config = load_config(_write(tmp_path, text), env=ENV)
    assert config.connectors["wms"].verify_tls is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "base_url",
    [
        "https://evil.localhost",  # resolved through DNS like any other name
        "https://localhost.localdomain",
        "https://localhost.example.com",
        "https://127.0.0.1.example.com",
        "https://10.0.0.1",
        "https://[::2]",
    ],
)
def test_verify_tls_off_with_a_name_that_goes_through_dns_is_refused(tmp_path: Path, base_url: str) -> None:
    text = EXAMPLE.replace('base_url: "https://wms.example.com/api"', f'base_url: "{base_url}", verify_tls: false')
    [problem] = _problems(tmp_path, text)
    assert problem.path == "connectors.wms"
    assert problem.line == _line_of(text, "verify_tls")
    assert "verify_tls: false is allowed only with a loopback base_url" in problem.message


# ------------------------------------------------------------------ located problems


def test_misspelled_key(tmp_path: Path) -> None:
    text = EXAMPLE.replace("  currency: EUR", "  curency: EUR")
    [problem] = _problems(tmp_path, text)
    assert (problem.line, problem.column, problem.path) == (4, 3, "hub.curency")
    assert "unknown key 'curency'" in problem.message
    assert "check its spelling" in problem.message
    assert str(problem).startswith(f"{problem.file}:4:3 (hub.curency): ")


def test_misspelled_key_inside_a_connector(tmp_path: Path) -> None:
    text = EXAMPLE.replace("list_id:", "lsit_id:")
    problems = _problems(tmp_path, text)
    paths = {p.path: p for p in problems}
    assert "connectors.news.lsit_id" in paths
    assert paths["connectors.news.lsit_id"].line == _line_of(text, "lsit_id")
    assert paths["connectors.news.lsit_id"].column == _col_of(text, "lsit_id")
    assert "connectors.news.list_id" in paths  # and the required key is now missing
    assert "missing required key 'list_id'" in paths["connectors.news.list_id"].message


def test_unknown_connector_type(tmp_path: Path) -> None:
    text = EXAMPLE.replace("type: rest_wms", "type: rest_wmz")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "connectors.wms.type"
    assert (problem.line, problem.column) == (_line_of(text, "rest_wmz"), _col_of(text, "type: rest_wmz"))
    assert "unknown connector type 'rest_wmz'" in problem.message
    assert "csv, hubspot, mailchimp, rest_wms, shopify, square, woocommerce" in problem.message


def test_connector_without_type(tmp_path: Path) -> None:
    text = EXAMPLE.replace("{type: csv, path: exports/prices.csv}", "{path: exports/prices.csv}")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "connectors.feed"
    assert problem.line == _line_of(text, "feed:")
    assert "needs a `type`" in problem.message


def test_missing_environment_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "WMS_KEY"}
    [problem] = _problems(tmp_path, EXAMPLE, env=env)
    assert problem.path == "connectors.wms.api_key"
    assert (problem.line, problem.column) == (_line_of(EXAMPLE, "WMS_KEY"), _col_of(EXAMPLE, '"${WMS_KEY}"'))
    assert "environment variable WMS_KEY is not set" in problem.message


@pytest.mark.parametrize(
    ("schedule", "words"),
    [("every 15 parsecs", "neither `every <duration>`"), ("*/5 * * *", "five-field cron"), ("61 * * * *", "61")],
)
def test_bad_schedule(tmp_path: Path, schedule: str, words: str) -> None:
    text = EXAMPLE.replace('"every 15m"', f'"{schedule}"')
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.prices.schedule"
    line = _line_of(text, f'"{schedule}"')
    assert line == _line_of(text, "prices:    {entity: prices")
    assert (problem.line, problem.column) == (line, text.splitlines()[line - 1].index("schedule:") + 1)
    assert words in problem.message


def test_unknown_target(tmp_path: Path) -> None:
    text = EXAMPLE.replace("targets: [web], ", "targets: [webb], ")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.prices.targets.0"
    assert (problem.line, problem.column) == (_line_of(text, "[webb]"), _col_of(text, "webb"))
    assert "unknown connector 'webb'" in problem.message
    assert "defined: shop, web, wms, crm, news, feed" in problem.message


def test_unknown_truth_connector(tmp_path: Path) -> None:
    text = EXAMPLE.replace("  prices: shop", "  prices: erp")
    problems = _problems(tmp_path, text)
    assert [p.path for p in problems] == ["truth.prices", "jobs.prices.source"]
    assert problems[0].line == _line_of(text, "prices: erp")
    assert "unknown connector 'erp'" in problems[0].message


def test_target_that_cannot_write_in_enforce_mode(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        "stock:     {entity: stock,     targets: [shop, web]",
        "stock:     {entity: stock, source: feed, targets: [shop, wms]",
    )
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.stock.targets.1"
    assert (problem.line, problem.column) == (_line_of(text, "[shop, wms]"), _col_of(text, "wms]"))
    assert "connector 'wms' (rest_wms) cannot write stock" in problem.message
    assert "mode: monitor" in problem.message
    # the same target is fine when the job only watches
    load_config(_write(tmp_path, text.replace("mode: enforce}", "mode: monitor}", 1)), env=ENV)


def test_target_that_cannot_read_the_entity(tmp_path: Path) -> None:
    text = EXAMPLE.replace("targets: [web],       schedule", "targets: [crm],       schedule")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.prices.targets.0"
    assert "connector 'crm' (hubspot) cannot read prices" in problem.message


def test_source_that_is_also_a_target(tmp_path: Path) -> None:
    text = EXAMPLE.replace("targets: [web],       schedule", "targets: [shop, web], schedule")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.prices.targets"
    assert "'shop' is the source of truth and a target" in problem.message


def test_job_without_a_source_of_truth(tmp_path: Path) -> None:
    text = EXAMPLE.replace("  prices: shop\n", "")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.prices"
    assert "no source of truth for prices" in problem.message


def test_rules_for_a_connector_that_is_not_a_target_and_unknown_fields(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        "mode: monitor}", "mode: monitor, rules: {shop: {markup_percent: 10}}, fields: [amount, colour]}"
    )
    problems = _problems(tmp_path, text)
    assert [p.path for p in problems] == ["jobs.prices.rules.shop", "jobs.prices.fields.1"]
    assert "not one of this job's targets" in problems[0].message
    assert "'colour' is not compared for prices; choose from amount, compare_at" in problems[1].message


def test_verify_tls_off_with_a_remote_base_url(tmp_path: Path) -> None:
    text = EXAMPLE.replace('api_key: "${WMS_KEY}"}', 'api_key: "${WMS_KEY}", verify_tls: false}')
    [problem] = _problems(tmp_path, text)
    assert problem.path == "connectors.wms"
    assert problem.line == _line_of(text, "verify_tls")
    assert "verify_tls: false is allowed only with a loopback base_url" in problem.message


def test_bad_values_name_what_is_allowed(tmp_path: Path) -> None:
    text = (
        EXAMPLE.replace("currency: EUR", "currency: euro")
        .replace("mode: monitor}", "mode: watch}")
        .replace("renotify_after: 24h", "renotify_after: 24 hours")
        .replace("  stock: wms", "  stocks: wms")
    )
    problems = {p.path: p for p in _problems(tmp_path, text)}
    assert "'euro' is not an ISO 4217 currency code" in problems["hub.currency"].message
    assert "'watch'" in problems["jobs.prices.mode"].message
    assert "enforce" in problems["jobs.prices.mode"].message
    assert "not a duration such as 90s" in problems["alerts.renotify_after"].message
    assert problems["alerts.renotify_after"].line == _line_of(text, "renotify_after")
    assert any(path.startswith("truth.stocks") for path in problems)


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = (
        EXAMPLE.replace("  currency: EUR", "  curency: EUR")
        .replace("type: rest_wms", "type: rest_wmz")
        .replace('"every 15m"', '"every fortnight"')
        .replace("targets: [news, shop]", "targets: [newz, shop]")
    )
    env = {k: v for k, v in ENV.items() if k != "HUBSPOT_TOKEN"}
    problems = _problems(tmp_path, text, env=env)
    paths = {p.path for p in problems}
    # a schema error stops before the cross checks, but the connector entries are still checked
    assert {"hub.curency", "jobs.prices.schedule", "connectors.wms.type", "connectors.crm.access_token"} <= paths
    assert all(p.line is not None and p.column is not None for p in problems)


def test_cross_check_problems_are_reported_together(tmp_path: Path) -> None:
    text = EXAMPLE.replace("targets: [news, shop]", "targets: [newz, shop]").replace("type: rest_wms", "type: rest_wmz")
    problems = _problems(tmp_path, text)
    assert {p.path for p in problems} == {"connectors.wms.type", "jobs.customers.targets.0"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the config must be a mapping"),
        ("- a\n- b\n", "the config must be a mapping"),
        ("version: 1\n", "connectors"),
        ("version: 2\nconnectors: {f: {type: csv, path: x.csv}}\n", "version"),
    ],
)
def test_degenerate_files(tmp_path: Path, text: str, message: str) -> None:
    problems = _problems(tmp_path, text)
    assert message in str(problems[0]) or message in problems[0].path


def test_a_secret_in_a_bad_connector_entry_is_not_echoed(tmp_path: Path) -> None:
    text = EXAMPLE.replace('api_key: "${WMS_KEY}"}', 'api_key: "${WMS_KEY}", page_size: "${WMS_KEY}"}')
    problems = _problems(tmp_path, text)  # _problems checks that no secret is in the message
    assert [p.path for p in problems] == ["connectors.wms.page_size"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", env=ENV)


def test_a_short_secret_written_in_the_file_is_masked(tmp_path: Path) -> None:
    text = EXAMPLE.replace('api_key: "${WMS_KEY}"', 'api_key: "k1234"')
    load_config(_write(tmp_path, text), env=ENV)
    assert redact("401 invalid api key k1234") == "401 invalid api key ***"


# ------------------------------------------------------------------ the state store alone (read-only commands)


def test_the_state_location_needs_no_connector_secret(tmp_path: Path) -> None:
    text = EXAMPLE.replace("sqlite:///omnihub.db", '"sqlite:///${STATE_DIR}/state.db"')
    state = load_state_location(_write(tmp_path, text), env={"STATE_DIR": "/srv/omnihub"})
    assert state.database_url() == "sqlite:////srv/omnihub/state.db"
    relative = load_state_location(_write(tmp_path, EXAMPLE), env={})
    assert relative.database_url() == load_config(tmp_path / "omnihub.yaml", env=ENV).database_url()


def test_the_state_location_still_needs_the_database_variable(tmp_path: Path) -> None:
    text = EXAMPLE.replace("sqlite:///omnihub.db", '"${DATABASE_URL}"')
    with pytest.raises(ConfigError) as info:
        load_state_location(_write(tmp_path, text), env={})
    [problem] = info.value.problems
    assert (problem.line, problem.column, problem.path) == (3, 13, "hub.database")
    assert "environment variable DATABASE_URL is not set" in problem.message


def test_the_state_location_checks_the_hub_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_state_location(_write(tmp_path, EXAMPLE.replace("currency: EUR", "currency: euro")), env={})
    [problem] = info.value.problems
    assert problem.path == "hub.currency"
    with pytest.raises(ConfigError, match="the config must be a mapping"):
        load_state_location(_write(tmp_path, "- a\n"), env={})


# ------------------------------------------------------------------ JSON schema


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def test_config_json_schema_has_connectors_one_of_by_type() -> None:
    schema = config_json_schema()
    json.dumps(schema)  # plain JSON
    assert schema["title"] == "omnihub configuration"
    assert schema["type"] == "object"
    variants = schema["properties"]["connectors"]["additionalProperties"]["oneOf"]
    consts = [v["properties"]["type"]["const"] for v in variants]
    assert consts == ["csv", "hubspot", "mailchimp", "rest_wms", "shopify", "square", "woocommerce"]
    shopify = variants[consts.index("shopify")]
    assert {"shop", "access_token"} <= set(shopify["properties"])
    assert set(schema["properties"]) >= {"version", "hub", "connectors", "truth", "jobs", "alerts"}


def test_config_json_schema_references_resolve() -> None:
    schema = config_json_schema()
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema.get("$defs", {}), f"dangling {ref}"


# ------------------------------------------------------------------ durations and schedules


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), (" 1.5h ", 5400), (30, 30), (2.5, 2.5), ("0s", 0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "m", "-5m", "1w", True])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="is not a duration such as 90s, 15m, 24h or 7d"):
        parse_duration(text)  # type: ignore[arg-type]


def test_parse_duration_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError):
        parse_duration(-5)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("99999999999999d", "longer than 3650d"),
        ("3650.01d", "longer than 3650d"),
        ("9" * 400 + "s", "longer than 3650d"),
        (float("inf"), "longer than 3650d"),
        (10**400, "longer than 3650d"),
        (float("nan"), "nan is not a number of seconds"),
    ],
)
def test_parse_duration_refuses_what_would_overflow(text: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_duration(text)  # type: ignore[arg-type]


def test_the_longest_duration_is_ten_years() -> None:
    assert parse_duration("3650d") == MAX_DURATION == timedelta(days=3650)
    assert parse_schedule("every 3650d") == ("interval", MAX_DURATION)
    # the scheduler can still compute the next run of the longest interval
    now = datetime.now(UTC)
    fire = trigger_for("every 3650d", "Europe/Rome").get_next_fire_time(None, now)
    assert fire is not None and fire - now > MAX_DURATION - timedelta(minutes=1)
    with pytest.raises(ValueError, match="longer than 3650d"):
        parse_schedule("every 99999999999999d")


@pytest.mark.parametrize(
    ("rule", "words"),
    [("markup_percent: '1e999999'", "less than or equal to 1000"), ("markup_percent: -100", "greater than -100")],
)
def test_markup_is_bounded(tmp_path: Path, rule: str, words: str) -> None:
    text = EXAMPLE.replace("mode: monitor}", f"mode: monitor, rules: {{web: {{{rule}}}}}}}")
    [problem] = _problems(tmp_path, text)
    assert problem.path == "jobs.prices.rules.web.markup_percent"
    assert (problem.line, problem.column) == (_line_of(text, "markup_percent"), _col_of(text, "markup_percent"))
    assert words in problem.message
    for sane in ("-99.5", "1000"):
        config = load_config(_write(tmp_path, text.replace(rule, f"markup_percent: {sane}")), env=ENV)
        assert config.jobs["prices"].rules["web"].markup_percent == Decimal(sane)


def test_parse_schedule() -> None:
    assert parse_schedule("every 15m") == ("interval", timedelta(minutes=15))
    assert parse_schedule("  every 90s ") == ("interval", timedelta(seconds=90))
    assert parse_schedule("*/5 * * * *") == ("cron", "*/5 * * * *")
    assert parse_schedule("0 6 * * mon-fri") == ("cron", "0 6 * * mon-fri")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every 0m", "longer than zero"),
        ("every", "neither"),
        ("every 5 minutes", "neither"),
        ("* * * *", "neither"),
        ("99 * * * *", "invalid cron expression '99 * * * *'"),
        ("* * * * funday", "invalid cron expression"),
    ],
)
def test_parse_schedule_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(text)
