"""A stores directory as ``hub.config.stores`` reads it: one store per ``NAME.yaml``, secrets from
``NAME.env`` for that store only, a broken store reported at its line while the others load, and
two stores on one database (or schema) refused by both files' names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.config.stores import (
    load_store_config,
    load_stores,
    read_env_file,
    refuse_other_brokers,
    state_identity,
    store_queue,
)
from hub.errors import ConfigError

STORE = """version: 1
hub:
  database: "{database}"
{hub_extra}connectors:
  wms: {{type: csv, path: wms.csv}}
  web: {{type: woocommerce, url: "https://{host}", consumer_key: "${{WOO_KEY}}", consumer_secret: "${{WOO_SECRET}}",
         location: web-warehouse}}
truth: {{stock: wms}}
jobs:
  stock: {{entity: stock, targets: [web], schedule: "every 1h"}}
"""


def write_store(
    folder: Path, name: str, *, database: str | None = None, env: str | None = None, hub_extra: str = ""
) -> Path:
    path = folder / f"{name}.yaml"
    db = database or f"sqlite:///{name}.db"
    path.write_text(STORE.format(database=db, host=f"{name}.example", hub_extra=hub_extra), encoding="utf-8")
    if env is not None:
        (folder / f"{name}.env").write_text(env, encoding="utf-8")
    return path


def woo_key(config: object) -> str:
    return config.connectors["web"].consumer_key.get_secret_value()  # type: ignore[attr-defined]


def test_each_store_resolves_its_secrets_from_its_own_env_file_and_the_process_environment_is_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WOO_SECRET", "cs_from_the_process_env")
    monkeypatch.delenv("WOO_KEY", raising=False)
    write_store(tmp_path, "north", env="# north's keys\nexport WOO_KEY=ck_north_only\n")
    write_store(tmp_path, "south", env="WOO_KEY='ck_south_only'\nWOO_SECRET=\"cs_south_own\"\n")
    stores = load_stores(tmp_path)
    assert not stores.failed, [str(f) for f in stores.failed]
    by_name = {s.name: s.config for s in stores.loaded}
    assert sorted(by_name) == ["north", "south"]
    assert woo_key(by_name["north"]) == "ck_north_only"
    assert woo_key(by_name["south"]) == "ck_south_only"
    secret = by_name["north"].connectors["web"].consumer_secret.get_secret_value()  # type: ignore[attr-defined]
    assert secret == "cs_from_the_process_env"  # not in north.env: the process's
    assert by_name["south"].connectors["web"].consumer_secret.get_secret_value() == "cs_south_own"  # type: ignore[attr-defined]
    assert "WOO_KEY" not in os.environ  # the overlay never reaches the process
    assert os.environ["WOO_SECRET"] == "cs_from_the_process_env"
    assert by_name["north"].database_url() != by_name["south"].database_url()


def test_a_broken_store_is_reported_at_its_line_and_the_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WOO_SECRET", "cs_x")
    monkeypatch.delenv("WOO_KEY", raising=False)
    write_store(tmp_path, "good", env="WOO_KEY=ck_good\n")
    broken = write_store(tmp_path, "broken", env="WOO_KEY=ck_broken\n")
    broken.write_text(broken.read_text().replace('schedule: "every 1h"', 'schedule: "every now and then"'))
    write_store(tmp_path, "nokey")  # WOO_KEY set nowhere for it
    write_store(tmp_path, "bad name", env="WOO_KEY=ck_bad\n")
    stores = load_stores(tmp_path)
    assert [s.name for s in stores.loaded] == ["good"]
    failed = {f.name: str(f) for f in stores.failed}
    assert sorted(failed) == ["bad name", "broken", "nokey"]
    assert f"{broken}:10:" in failed["broken"] and "every now and then" in failed["broken"]
    assert "environment variable WOO_KEY is not set" in failed["nokey"]
    assert "nokey.env" in failed["nokey"]  # says where a store's own variable may be set
    assert "letters, digits, - and _" in failed["bad name"]


def test_two_stores_on_one_database_are_both_refused_naming_both_files(tmp_path: Path) -> None:
    env = "WOO_KEY=ck_1\nWOO_SECRET=cs_1\n"
    shared = "postgresql+psycopg://hub:pw@db.example:5432/hub?options=-csearch_path%3Dshared"
    write_store(tmp_path, "one", database=shared, env=env)
    other_user = "postgresql+psycopg://other@db.example/hub?options=-csearch_path%3Dshared"
    write_store(tmp_path, "two", database=other_user, env=env)
    write_store(tmp_path, "three", database=shared.replace("shared", "three"), env=env)
    write_store(tmp_path, "four", database="sqlite:///state/four.db", env=env)
    write_store(tmp_path, "five", database=f"sqlite:///{tmp_path / 'state' / 'four.db'}", env=env)
    stores = load_stores(tmp_path)
    assert [s.name for s in stores.loaded] == ["three"]
    failed = {f.name: str(f) for f in stores.failed}
    assert sorted(failed) == ["five", "four", "one", "two"]
    assert "two.yaml's" in failed["one"] and "one.yaml's" in failed["two"]
    assert "four.yaml's" in failed["five"] and "five.yaml's" in failed["four"]
    assert f"{tmp_path / 'one.yaml'}:3:" in failed["one"]  # at hub.database
    assert "pw" not in failed["one"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            "postgresql+psycopg://u@h/db?options=-csearch_path%3Ds1",
            "postgresql://v:x@h:5432/db?options=-c search_path=s1",
            True,
        ),
        (
            "postgresql+psycopg://u@h/db?options=-csearch_path%3Ds1",
            "postgresql+psycopg://u@h/db?options=-csearch_path%3Ds2",
            False,
        ),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db?options=-csearch_path%3Dpublic", True),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/other", False),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h2/db", False),
        ("sqlite:////srv/hub/x/../a.db", "sqlite:////srv/hub/a.db", True),
    ],
)
def test_state_identity_is_the_database_and_schema_whoever_connects(a: str, b: str, same: bool) -> None:
    assert (state_identity(a) == state_identity(b)) is same


def test_in_memory_databases_are_never_shared() -> None:
    assert state_identity("sqlite:///:memory:") is None


def test_an_env_file_line_that_is_not_a_pair_is_reported_by_number_never_by_its_text(tmp_path: Path) -> None:
    path = tmp_path / "shop.env"
    path.write_text("OK=1\nthis line holds s3cr3t-value\nOK=2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_env_file(path)
    text = str(caught.value)
    assert f"{path}:2" in text and f"{path}:3" in text and "set twice" in text
    assert "s3cr3t" not in text


def test_an_env_file_takes_values_as_written(tmp_path: Path) -> None:
    path = tmp_path / "shop.env"
    path.write_text("\n# comment\nA = spaced value \nB=\"quoted # not a comment\"\nC=x=y\nexport D='$HOME'\n")
    assert read_env_file(path) == {"A": "spaced value", "B": "quoted # not a comment", "C": "x=y", "D": "$HOME"}


def test_without_an_env_file_a_store_loads_as_load_config_would(tmp_path: Path) -> None:
    path = write_store(tmp_path, "plain")
    config = load_store_config(path, {"WOO_KEY": "ck_plain", "WOO_SECRET": "cs_plain"})
    assert woo_key(config) == "ck_plain"


def test_a_directory_without_stores_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*\.yaml"):
        load_stores(tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        load_stores(tmp_path / "missing")


def test_stores_on_another_broker_than_the_first_are_refused(tmp_path: Path) -> None:
    env = "WOO_KEY=ck_1\nWOO_SECRET=cs_1\n"
    for name, broker in (("a", "redis://h:6379/1"), ("b", "redis://h:6379/1"), ("c", "redis://:pw@other:6379/1")):
        write_store(tmp_path, name, env=env, hub_extra=f'  broker: "{broker}"\n')
    stores = load_stores(tmp_path)
    refuse_other_brokers(stores)
    assert [s.name for s in stores.loaded] == ["a", "b"]
    (failure,) = stores.failed
    assert failure.name == "c" and "a.yaml's" in str(failure) and "pw" not in str(failure)


def test_a_store_queue_is_named_after_the_store() -> None:
    assert store_queue("north-1") == "omnihub.north-1"
