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
from yaml.nodes import MappingNode, Node, SequenceNode

from auditlib.errors import YamlInputError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Base):  # type: ignore[misc]
    """Safe loader (libyaml when present) that refuses aliases of collections and duplicate keys."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # A collection node seen twice can only come from an alias (`*name`): refuse them all,
        # which also rules out `<<` merge keys and alias bombs.
        if isinstance(node, MappingNode | SequenceNode) and node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors and aliases are not allowed", node.start_mark
            )
        return super().construct_object(node, deep)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


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
        value = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
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
    except OSError as exc:
        raise YamlInputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return parse_yaml_text(data, str(path))
