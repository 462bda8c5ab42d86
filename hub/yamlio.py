"""YAML that remembers where every value came from.

Config and mapping errors must say ``omnihub.yaml:12:5`` and not just "invalid". PyYAML's node
graph carries the line and column of each node; ``load_located`` builds plain Python data from it
and a table from key path to position, and substitutes ``${NAME}`` from the environment (a missing
variable is an error located at its line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.errors import ConfigError, ConfigProblem
from hub.redact import register_secret

__all__ = ["Located", "load_located", "locate_problem"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|api_key|apikey|consumer_key|private)")

Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """Parsed YAML data and the (line, column) of every key path in it, 1-based."""

    data: Any
    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    #: Key paths whose value came (at least partly) from an environment variable.
    from_env: set[Path_] = field(default_factory=set)

    def where(self, path: Path_) -> tuple[int | None, int | None]:
        """Position of ``path``, or of its nearest ancestor that exists in the file."""
        probe = tuple(path)
        while True:
            if probe in self.positions:
                return self.positions[probe]
            if not probe:
                return None, None
            probe = probe[:-1]

    def problem(self, path: Path_, message: str) -> ConfigProblem:
        line, column = self.where(path)
        return ConfigProblem(self.file, line, column, ".".join(str(p) for p in path), message)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader is enough: no tags that build Python objects are honoured."""


def load_located(
    source: str | Path,
    *,
    text: str | None = None,
    env: Mapping[str, str] | None = None,
    interpolate: bool = True,
    problems_out: list[ConfigProblem] | None = None,
) -> Located:
    """Parse a YAML file (or ``text`` named ``source``) into data plus positions.

    Raises ``ConfigError`` for unreadable files, syntax errors, duplicate keys and (with
    ``interpolate``) ``${NAME}`` references to unset variables, each with file:line:column.
    """
    name = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                ConfigProblem(
                    name,
                    None,
                    None,
                    "",
                    "file not found; create it or pass --config PATH (see config/demo.yaml for an example)",
                )
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(ConfigProblem(name, None, None, "", f"cannot read the file: {exc}")) from None
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise ConfigError(ConfigProblem(name, line, column, "", f"YAML syntax error: {exc.problem}")) from None
    located = Located(data=None, file=name)
    problems: list[ConfigProblem] = []
    environment = os.environ if env is None else env
    located.data = _build(node, (), located, problems, environment if interpolate else None)
    if problems and problems_out is not None:
        problems_out.extend(problems)  # the caller reports them with its own validation problems
    elif problems:
        raise ConfigError(problems)
    return located


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(
    node: yaml.Node | None, path: Path_, located: Located, problems: list[ConfigProblem], env: Mapping[str, str] | None
) -> Any:
    if node is None:
        return None
    located.positions.setdefault(path, _position(node))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    ConfigProblem(
                        located.file,
                        *_position(key_node),
                        ".".join(map(str, path)),
                        "YAML merge keys (<<) are not supported; write the keys out",
                    )
                )
                continue
            # Keys are kept as written: YAML 1.1 would read `yes:`/`no:`/`on:` as booleans, and a
            # value map such as `{yes: subscribed, no: unsubscribed}` would then never match.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int)):
                problems.append(
                    ConfigProblem(
                        located.file, *_position(key_node), ".".join(map(str, path)), "a key must be a plain string"
                    )
                )
                continue
            key = str(key)
            child = (*path, key)
            if key in result:
                problems.append(
                    ConfigProblem(
                        located.file,
                        *_position(key_node),
                        ".".join(map(str, child)),
                        f"duplicate key {key!r}: the second one would silently win",
                    )
                )
                continue
            located.positions[child] = _position(key_node)
            result[key] = _build(value_node, child, located, problems, env)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), located, problems, env) for i, item in enumerate(node.value)]
    try:
        value = _scalar(node)
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        problems.append(
            ConfigProblem(
                located.file,
                *_position(node),
                ".".join(map(str, path)),
                f"cannot read this value ({node.tag}): {getattr(exc, 'problem', None) or exc}",
            )
        )
        return None
    if env is not None and isinstance(value, str) and "${" in value:
        value = _interpolate(value, path, node, located, problems, env)
    return value


def _scalar(node: yaml.ScalarNode) -> Any:
    """Resolve a scalar the way SafeLoader would (ints, floats, bools, nulls, strings)."""
    loader = _UniqueKeyLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _interpolate(
    value: str, path: Path_, node: yaml.Node, located: Located, problems: list[ConfigProblem], env: Mapping[str, str]
) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            problems.append(
                ConfigProblem(
                    located.file,
                    *_position(node),
                    ".".join(map(str, path)),
                    f"environment variable {name} is not set; export it or write the value in the file",
                )
            )
            return match.group(0)  # kept as written, so no second, confusing error follows from it
        if secret:  # the variable's own value: `"Bearer ${TOKEN}"` must mask the token, not the phrase
            register_secret(env[name])
        return env[name]

    secret = bool(path and isinstance(path[-1], str) and _SECRET_KEY.search(path[-1]))
    result = _ENV_REF.sub(replace, value)
    located.from_env.add(path)
    if secret:
        register_secret(result)
    return result


def locate_problem(located: Located, loc: tuple[Any, ...], message: str, *, prefix: Path_ = ()) -> ConfigProblem:
    """A pydantic error location turned into a located problem (``loc`` is relative to ``prefix``)."""
    path = (*prefix, *(p for p in loc if not (isinstance(p, str) and p.startswith("function-"))))
    return located.problem(tuple(path), message)
