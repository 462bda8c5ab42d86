"""YAML with positions: every key path knows its line and column, and errors are located."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config.yamlio import MAX_DEPTH, MAX_VALUES, Located, load_located, locate_problem
from hub.errors import ConfigError, ConfigProblem
from hub.redact import redact, secrets

NESTED = """\
hub:
  database: sqlite:///x.db
connectors:
  shop:
    type: shopify
    locations:
      - first
      - {code: milano, ids: [7, 8]}
"""


def _problems(text: str, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_located("omnihub.yaml", text=text, env=env or {})
    return info.value.problems


def test_positions_of_nested_keys_and_list_items() -> None:
    located = load_located("omnihub.yaml", text=NESTED, env={})
    assert located.data["connectors"]["shop"]["locations"][1] == {"code": "milano", "ids": [7, 8]}
    pos = located.positions
    assert pos[("hub",)] == (1, 1)
    assert pos[("hub", "database")] == (2, 3)
    assert pos[("connectors", "shop", "type")] == (5, 5)
    assert pos[("connectors", "shop", "locations", 0)] == (7, 9)
    assert pos[("connectors", "shop", "locations", 1)] == (8, 9)
    assert pos[("connectors", "shop", "locations", 1, "code")] == (8, 10)
    assert pos[("connectors", "shop", "locations", 1, "ids", 1)] == (8, 33)


def test_where_falls_back_to_the_nearest_ancestor() -> None:
    located = load_located("omnihub.yaml", text=NESTED, env={})
    assert located.where(("connectors", "shop", "missing_key")) == (4, 3)
    assert located.where(("connectors", "shop", "locations", 5, "x")) == (6, 5)
    assert located.where(("nowhere",)) == (1, 1)  # the document itself
    assert Located(data=None, file="f").where(("a",)) == (None, None)


def test_problem_and_locate_problem_carry_file_line_column_and_path() -> None:
    located = load_located("conf/omnihub.yaml", text=NESTED, env={})
    problem = located.problem(("connectors", "shop", "type"), "unknown type")
    assert problem == ConfigProblem("conf/omnihub.yaml", 5, 5, "connectors.shop.type", "unknown type")
    assert str(problem) == "conf/omnihub.yaml:5:5 (connectors.shop.type): unknown type"
    # pydantic locations contain validator names such as "function-after[...]": they are dropped
    nested = locate_problem(located, ("function-after[_x()]", "type"), "bad", prefix=("connectors", "shop"))
    assert (nested.line, nested.column, nested.path) == (5, 5, "connectors.shop.type")


def test_duplicate_key_is_reported_at_the_second_one() -> None:
    problems = _problems("jobs:\n  stock: {entity: stock}\n  prices: {}\n  stock: {entity: prices}\n")
    assert len(problems) == 1
    assert (problems[0].line, problems[0].column, problems[0].path) == (4, 3, "jobs.stock")
    assert "duplicate key 'stock'" in problems[0].message


def test_duplicate_key_inside_a_list_item() -> None:
    [problem] = _problems("a:\n  - b: 1\n    b: 2\n")
    assert (problem.line, problem.column, problem.path) == (3, 5, "a.0.b")


def test_several_problems_are_reported_together() -> None:
    problems = _problems("a: 1\na: 2\nb: ${MISSING_ONE}\nc: ${MISSING_TWO}\n")
    assert [(p.line, p.path) for p in problems] == [(2, "a"), (3, "b"), (4, "c")]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: [1, 2\nb: 3\n", 2, 2),  # unclosed flow sequence
        ("a:\n  b: 1\n c: 2\n", 3, 2),  # bad indentation
        ("a: 'unterminated\n", 2, 1),
        ("a: b: c\n", 1, 5),
    ],
)
def test_syntax_error_is_located(text: str, line: int, column: int) -> None:
    [problem] = _problems(text)
    assert problem.message.startswith("YAML syntax error: ")
    assert (problem.file, problem.line, problem.column) == ("omnihub.yaml", line, column)


def test_merge_keys_are_refused_with_their_position() -> None:
    [problem] = _problems("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert (problem.line, problem.column, problem.path) == (3, 3, "other")
    assert "merge keys" in problem.message


def test_non_string_key_is_refused() -> None:
    [problem] = _problems("? [1, 2]\n: x\n")
    assert problem.message == "a key must be a plain string"
    assert problem.line == 1


def test_integer_keys_become_text() -> None:
    assert load_located("f", text="1: a\n", env={}).data == {"1": "a"}


def test_keys_are_kept_as_written() -> None:
    data = load_located("f", text="map: {yes: subscribed, no: unsubscribed, on: x}\n", env={}).data
    assert set(data["map"]) == {"yes", "no", "on"}


def test_env_interpolation_whole_and_partial() -> None:
    env = {"HOST": "db.example.com", "PORT": "5432"}
    located = load_located("f", text="url: postgresql://${HOST}:${PORT}/hub\nport: ${PORT}\nplain: x\n", env=env)
    assert located.data == {"url": "postgresql://db.example.com:5432/hub", "port": "5432", "plain": "x"}
    assert located.from_env == {("url",), ("port",)}


def test_missing_variable_is_located_and_names_the_variable() -> None:
    text = 'connectors:\n  shop:\n    type: shopify\n    access_token: "${OMNIHUB_TEST_UNSET_TOKEN}"\n'
    [problem] = _problems(text, env={"OTHER": "x"})
    assert (problem.line, problem.column) == (4, 19)
    assert problem.path == "connectors.shop.access_token"
    assert "OMNIHUB_TEST_UNSET_TOKEN is not set" in problem.message
    assert "export it" in problem.message


def test_missing_variables_can_be_collected_by_the_caller() -> None:
    out: list[ConfigProblem] = []
    located = load_located("f", text="a: ${NOPE}\nb: 2\n", env={}, problems_out=out)
    assert located.data == {"a": "${NOPE}", "b": 2}  # kept as written: no second, confusing error
    assert [p.path for p in out] == ["a"]


def test_without_interpolation_references_stay_as_written() -> None:
    located = load_located("f", text="a: ${NOPE}\n", interpolate=False)
    assert located.data == {"a": "${NOPE}"}
    assert located.from_env == set()


def test_environment_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIHUB_TEST_YAMLIO_VAR", "from-os")
    assert load_located("f", text="a: ${OMNIHUB_TEST_YAMLIO_VAR}\n").data == {"a": "from-os"}


def test_values_of_secret_named_keys_are_registered_for_redaction() -> None:
    token = "yamlio-token-7f3a9c1e"
    password = "yamlio-password-55aa"
    not_secret = "yamlio-title-value-1234"
    env = {"T": token, "P": password, "N": not_secret}
    load_located("f", text="c:\n  access_token: ${T}\n  smtp_password: ${P}\n  title: ${N}\n", env=env)
    assert {token, password} <= secrets()
    assert not_secret not in secrets()
    assert redact(f"sent {token} and {password}") == "sent *** and ***"


def test_file_not_found_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_located(tmp_path / "missing.yaml")
    [problem] = info.value.problems
    assert problem.file.endswith("missing.yaml")
    assert "file not found" in problem.message
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_located(binary)


def test_reads_a_file_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "omnihub.yaml"
    path.write_text(NESTED, encoding="utf-8")
    located = load_located(path, env={})
    assert located.file == str(path)
    assert located.positions[("connectors", "shop", "type")] == (5, 5)


def test_python_tags_build_no_python_objects() -> None:
    # the sequence is read as plain data: nothing is called
    assert load_located("f", text="a: !!python/object/apply:os.system ['true']\n", env={}).data == {"a": ["true"]}


@pytest.mark.parametrize("text", ["a: !custom x\n", "a: !!int xyz\n", "a: !!python/name:os.system ''\n"])
def test_bad_scalar_tag_is_a_located_config_error(text: str) -> None:
    [problem] = _problems(text)
    assert (problem.line, problem.column, problem.path) == (1, 4, "a")


# ------------------------------------------------------------------ input that would end in a traceback


@pytest.mark.parametrize(("char", "escape"), [("\x00", "\\x00"), ("\x07", "\\x07"), ("\ufffe", "\\ufffe")])
def test_a_character_yaml_refuses_is_located(char: str, escape: str) -> None:
    [problem] = _problems(f"a: 1\nb: x{char}y\n")
    assert (problem.line, problem.column) == (2, 5)
    assert f"U+{ord(char):04X} is not allowed in YAML" in problem.message
    assert escape in problem.message


def test_nesting_deeper_than_the_limit_is_located() -> None:
    assert load_located("f", text="a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", env={}).data
    [problem] = _problems("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert (problem.line, problem.column) == (1, 4 + MAX_DEPTH - 1)  # the root mapping is the first level
    assert f"nested more than {MAX_DEPTH} levels deep" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "column", "anchor"),
    [
        ("a: &x [*x]\n", 1, 8, "x"),
        ("a: &m {b: {c: [1, *m]}}\n", 1, 19, "m"),
        ("a:\n  - &item\n    k: *item\n", 3, 8, "item"),
    ],
)
def test_an_alias_inside_the_node_it_names_is_located(text: str, line: int, column: int, anchor: str) -> None:
    [problem] = _problems(text)
    assert (problem.line, problem.column) == (line, column)
    assert f"the alias *{anchor} is inside the node it names" in problem.message


def test_aliases_of_aliases_are_still_read_within_the_limits() -> None:
    located = load_located("f", text="a: &a {x: 1}\nb: &b [*a, *a]\nc: [*b, *b]\n", env={})
    assert located.data["c"] == [[{"x": 1}, {"x": 1}], [{"x": 1}, {"x": 1}]]


def test_aliases_that_expand_too_deep_are_refused_at_their_key() -> None:
    chain = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_DEPTH + 5)]
    [problem] = _problems("\n".join(chain) + "\n")
    assert (problem.line, problem.path) == (MAX_DEPTH, f"a{MAX_DEPTH - 1}")
    assert f"more than {MAX_DEPTH} levels or {MAX_VALUES} values" in problem.message


def test_aliases_that_expand_to_too_many_values_are_refused() -> None:
    laughs = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10**9 values
    [problem] = _problems("\n".join(laughs) + "\n")
    assert problem.path == "l4"  # the first key past 100,000 values
    assert f"{MAX_VALUES} values" in problem.message


def test_interpolation_can_be_limited_to_one_section() -> None:
    text = "hub:\n  database: ${DB}\nconnectors:\n  shop: {token: '${UNSET_TOKEN}'}\n"
    located = load_located("f", text=text, env={"DB": "sqlite:///x.db"}, interpolate_within=("hub",))
    assert located.data == {"hub": {"database": "sqlite:///x.db"}, "connectors": {"shop": {"token": "${UNSET_TOKEN}"}}}
    with pytest.raises(ConfigError) as info:
        load_located("f", text="hub:\n  database: ${UNSET_DB}\n", env={}, interpolate_within=("hub",))
    [problem] = info.value.problems
    assert (problem.line, problem.column, problem.path) == (2, 13, "hub.database")
