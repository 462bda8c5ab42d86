"""YAML that remembers where every value came from, with ``${ENV}`` substitution and located errors.

Config and mapping errors must say ``omnihub.yaml:12:5`` and not just "invalid". PyYAML's node
graph carries the line and column of each node; ``load_located`` builds plain Python data from it
and a table from key path to position, and substitutes ``${NAME}`` from the environment (a missing
variable is an error located at its line).

What would otherwise end in a traceback is a located error too: a character YAML does not allow
(a NUL byte), values nested deeper than ``MAX_DEPTH`` (PyYAML and the builder here both recurse
per level), an alias inside the node it names (``a: &x [*x]`` never ends), and aliases that expand
to more than ``MAX_VALUES`` values (aliases of aliases grow exponentially).
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

__all__ = ["MAX_DEPTH", "MAX_VALUES", "Located", "load_located", "locate_problem"]

#: Deepest nesting of mappings and lists accepted: a config or mapping file needs fewer than ten.
MAX_DEPTH = 64
#: Most values one file may expand to, aliases included: a config or mapping file has hundreds.
MAX_VALUES = 100_000

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


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML the hub will not compose (too deep, an alias that never ends)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader is enough: no tags that build Python objects are honoured.

    Composing refuses, at the offending line, nesting deeper than ``MAX_DEPTH`` and an alias inside
    the node it names: PyYAML would recurse until Python's stack runs out.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        #: The anchor (or ``None``) of each node being composed, outermost first.
        self._open: list[str | None] = []

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self._open:
            message = f"the alias *{event.anchor} is inside the node it names, so it never ends; write the value out"
            raise _Refused(None, None, message, event.start_mark)
        if len(self._open) >= MAX_DEPTH:
            message = f"values nested more than {MAX_DEPTH} levels deep; flatten them"
            raise _Refused(None, None, message, event.start_mark)
        self._open.append(getattr(event, "anchor", None))
        try:
            return super().compose_node(parent, index)
        finally:
            self._open.pop()


def load_located(
    source: str | Path,
    *,
    text: str | None = None,
    env: Mapping[str, str] | None = None,
    interpolate: bool = True,
    interpolate_within: Path_ = (),
    problems_out: list[ConfigProblem] | None = None,
) -> Located:
    """Parse a YAML file (or ``text`` named ``source``) into data plus positions.

    Raises ``ConfigError`` for unreadable files, syntax errors, duplicate keys and (with
    ``interpolate``) ``${NAME}`` references to unset variables, each with file:line:column.
    ``interpolate_within`` limits substitution to the values under one key path (``("hub",)``):
    references elsewhere stay as written, and their variables need not be set.
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
        message = exc.problem if isinstance(exc, _Refused) else f"YAML syntax error: {exc.problem}"
        raise ConfigError(ConfigProblem(name, line, column, "", message)) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(_unreadable_character(name, text, exc)) from None
    located = Located(data=None, file=name)
    problems: list[ConfigProblem] = []
    environment = os.environ if env is None else env
    located.data = _build(node, (), located, problems, environment if interpolate else None, interpolate_within)
    if problems and problems_out is not None:
        problems_out.extend(problems)  # the caller reports them with its own validation problems
    elif problems:
        raise ConfigError(problems)
    return located


def _unreadable_character(name: str, text: str, error: yaml.reader.ReaderError) -> ConfigProblem:
    """A character YAML does not allow (a NUL byte, a control character), at its line and column."""
    line = text.count("\n", 0, error.position) + 1
    column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
    code: int = error.character  # PyYAML gives the code point of a refused character
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ConfigProblem(
        name,
        line,
        column,
        "",
        f"the character U+{code:04X} is not allowed in YAML; remove it, or write it as {escape} inside double quotes",
    )


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(
    node: yaml.Node | None,
    path: Path_,
    located: Located,
    problems: list[ConfigProblem],
    env: Mapping[str, str] | None,
    within: Path_,
) -> Any:
    """Plain Python data from a composed node, recording the position of every key path in
    ``located`` and appending what is wrong to ``problems`` (the caller reports them all at once)."""
    if node is None:
        return None
    located.positions.setdefault(path, _position(node))
    if len(path) > MAX_DEPTH or len(located.positions) > MAX_VALUES:  # aliases of aliases, mostly
        # An aliased node is shared, so its own position says nothing: name the top-level key.
        raise ConfigError(
            located.problem(
                path[:1],
                f"the values under this key expand to more than {MAX_DEPTH} levels or {MAX_VALUES} values "
                "(aliases inside aliases?); write them out",
            )
        )
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, located, problems, env, within)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), located, problems, env, within) for i, item in enumerate(node.value)]
    return _build_scalar(node, path, located, problems, env, within)


def _build_mapping(
    node: yaml.MappingNode,
    path: Path_,
    located: Located,
    problems: list[ConfigProblem],
    env: Mapping[str, str] | None,
    within: Path_,
) -> dict[Any, Any]:
    """A mapping whose keys are plain strings, each once: merge keys, complex keys and duplicates
    are problems, since each would silently change what the file means."""
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
        result[key] = _build(value_node, child, located, problems, env, within)
    return result


def _build_scalar(
    node: yaml.Node,
    path: Path_,
    located: Located,
    problems: list[ConfigProblem],
    env: Mapping[str, str] | None,
    within: Path_,
) -> Any:
    """A scalar as SafeLoader reads it, with ``${NAME}`` substituted where ``env`` is given and the
    path is under ``within``; one that cannot be read is a problem at its line, and ``None``."""
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
    if env is not None and isinstance(value, str) and "${" in value and path[: len(within)] == within:
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
