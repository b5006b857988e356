"""Reading YAML written by someone else (registries, manifests) without trusting it.

`yaml.safe_load` alone still accepts alias bombs (a few lines that expand into
billions of nodes once walked), silently keeps the last of two duplicate keys, and
reports binary garbage as an obscure reader error. This loader refuses all three and
says where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from auditlib.errors import YamlInputError
from auditlib.files import describe_missing

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_INT_DIGITS = 100
"""Longest integer accepted (Python refuses past 4,300 digits, and no field needs 100)."""
MAX_DEPTH = 200
"""Deepest nesting of sequences and mappings accepted."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _error(message: str, node: Node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, message, node.start_mark)


class _FastLoader(_Loader):  # type: ignore[misc]
    """Skips the implicit-type regexes for plain scalars no implicit type can start with."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        resolvers = self.yaml_implicit_resolvers
        if (
            kind is ScalarNode
            and None not in resolvers
            and (not implicit[0] or (value and value[0] not in resolvers))
        ):
            return _STR
        return super().resolve(kind, value, implicit)


def _build(root: Node, constructor: Any) -> Any:
    """Turn a composed node graph into Python values, refusing aliases and duplicate keys.

    libyaml composes the graph in C; building the values here rather than through
    PyYAML's generic constructor is both stricter and about twice as fast, which matters
    for 500-item manifests. Unusual scalars (dates, floats, bools...) go to the safe
    constructor, and a value they refuse (`2026-02-30`, `!!int ²`) is a YAML error with its
    line, never a bare ValueError. A node reached twice can only come from an alias
    (`*name`): refusing them rules out alias bombs and `<<` merge keys. Numbers longer
    than `MAX_INT_DIGITS` and nesting deeper than `MAX_DEPTH` are refused.
    """
    seen: set[int] = set()

    def scalar(node: ScalarNode) -> Any:
        if node.tag == _STR:
            return node.value
        if len(node.value) > MAX_INT_DIGITS and node.tag in (_INT, _FLOAT):
            raise _error(f"number too long ({len(node.value)} characters)", node)
        if node.tag == _INT and node.value.isascii() and node.value.isdigit():
            return int(node.value)
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, OverflowError, TypeError, ArithmeticError) as exc:
            # `date: 2026-02-30`, `!!int ²`, `!!float x`...: the value, not the syntax.
            reason = str(exc).split(":")[0] if "digits" in str(exc) else str(exc)
            raise _error(
                f"invalid {node.tag.rsplit(':', 1)[-1]} {node.value[:40]!r}: {reason}", node
            ) from None

    def build(node: Node, depth: int = 0) -> Any:
        if id(node) in seen:
            raise _error("YAML anchors and aliases are not allowed", node)
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            return scalar(node)
        if depth > MAX_DEPTH:
            raise _error(f"nesting deeper than {MAX_DEPTH} levels", node)
        if isinstance(node, SequenceNode) and node.tag == _SEQ:
            return [build(child, depth + 1) for child in node.value]
        if isinstance(node, MappingNode) and node.tag == _MAP:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise _error("a mapping key must be a plain value", key_node)
                key = build(key_node, depth + 1)
                if key == "<<":
                    raise _error("YAML merge keys are not allowed", key_node)
                if key in result:
                    raise _error(f"duplicate key {key!r}", key_node)
                result[key] = build(value_node, depth + 1)
            return result
        raise _error(f"unsupported YAML tag {node.tag}", node)

    return build(root)


def _load(text: str) -> Any:
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(node, loader)
    finally:
        loader.dispose()


def parse_yaml_text(data: bytes, origin: str) -> Any:
    """Parse one YAML document from bytes; every failure is a `YamlInputError` naming `origin`."""
    if b"\x00" in data:
        raise YamlInputError(f"{origin}: not a text file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlInputError(
            f"{origin}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    if not text.strip():
        raise YamlInputError(f"{origin}: the file is empty")
    try:
        value = _load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlInputError(f"{origin}: YAML error at {where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlInputError(f"{origin}: YAML error: {exc}") from None
    except RecursionError:
        raise YamlInputError(f"{origin}: YAML nesting is too deep") from None
    if value is None:
        raise YamlInputError(f"{origin}: the file holds no data (only comments or `null`)")
    return value


def load_yaml_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Read and parse a YAML file no larger than `max_bytes`."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise YamlInputError(
                f"{path}: {size} bytes, more than the {max_bytes} bytes accepted for a YAML file"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise YamlInputError(describe_missing(path)) from None
    except OSError as exc:
        raise YamlInputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return parse_yaml_text(data, str(path))
