"""YAML text -> plain Python data plus the source position of every key and value.

Owns reading jobs.yaml with ruamel.yaml's composer (YAML 1.2: `on`, `yes` and `no` stay
strings). Invariants: every duplicate key in any mapping is reported (PyYAML and most
loaders silently keep the last one), the first occurrence wins; merge keys (`<<`) and
anchors work as in YAML; positions are 1-based; mapping keys are the key's source text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from jobctl.registry.diagnostics import Diagnostic, RegistryError, render_field, subject_of

Path = tuple[str | int, ...]
Position = tuple[int, int]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """Parsed registry data with positions for every path (keys and values)."""

    data: dict[str, Any]
    file: str
    value_positions: dict[Path, Position] = field(default_factory=dict)
    key_positions: dict[Path, Position] = field(default_factory=dict)
    # Problems that do not stop validation (duplicate keys): reported with everything else.
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> Position:
        """The best known position for `path`: its key (or value), else its nearest parent."""
        primary, secondary = (
            (self.key_positions, self.value_positions)
            if key
            else (self.value_positions, self.key_positions)
        )
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in primary:
                return primary[prefix]
            if prefix in secondary:
                return secondary[prefix]
        return (1, 1)


def load_document(text: str, file: str) -> Document:
    """Parse `text`; raise RegistryError for text that is not a YAML mapping.

    Duplicate keys do not stop parsing: they are kept in `Document.diagnostics`.
    """
    yaml = YAML(typ="safe", pure=True)
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise RegistryError(
            [Diagnostic(line, col, f"not valid YAML: {problem}", file=file)]
        ) from None
    except YAMLError as exc:
        raise RegistryError([Diagnostic(1, 1, f"not valid YAML: {exc}", file=file)]) from None
    if root is None:
        raise RegistryError(
            [
                Diagnostic(
                    1,
                    1,
                    "the file is empty: expected a mapping with version, project and jobs",
                    file=file,
                )
            ]
        )
    if not isinstance(root, MappingNode):
        line, col = _start(root)
        raise RegistryError(
            [
                Diagnostic(
                    line,
                    col,
                    f"the top level must be a mapping (version, project, jobs, ...), found {_kind(root)}",
                    file=file,
                )
            ]
        )
    builder = _Builder(yaml, file)
    data = builder.build(root, ())
    return Document(data, file, builder.values, builder.keys, builder.diagnostics)


def _start(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f"the scalar {node.value!r}"
    return "a mapping"


class _Builder:
    def __init__(self, yaml: YAML, file: str) -> None:
        self._constructor = yaml.constructor
        self._file = file
        self._active: set[int] = set()  # guards against recursive aliases
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.diagnostics: list[Diagnostic] = []

    def build(self, node: Node, path: Path) -> Any:
        line, column = _start(node)
        if isinstance(node, ScalarNode) and node.style in ("'", '"'):
            column += 1  # point at the text, not its opening quote
        self.values.setdefault(path, (line, column))
        if id(node) in self._active:
            self._error(node, "recursive alias")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._constructor.construct_object(node, deep=True)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                self._error(key_node, "mapping keys must be plain scalars")
                continue
            key = str(key_node.value)
            if key in first_seen:
                line, _ = first_seen[key]
                self._error(key_node, f"duplicate key '{key}' (first defined on line {line})", path)
                continue
            first_seen[key] = _start(key_node)
            self.keys.setdefault((*path, key), _start(key_node))
            result[key] = self.build(value_node, (*path, key))
        # Explicit keys win over merged ones, and earlier merge sources over later ones.
        for source in merged:
            for key, value in self._mapping(source, path).items():
                result.setdefault(key, value)
        return result

    def _merge_sources(self, node: Node) -> Iterator[MappingNode]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        for item in items:
            if isinstance(item, MappingNode):
                yield item
            else:
                self._error(item, "'<<' merges only mappings")

    def _error(self, node: Node, message: str, path: Path = ()) -> None:
        line, col = _start(node)
        job, field = subject_of(path)
        self.diagnostics.append(
            Diagnostic(line, col, message, job, render_field(field), file=self._file)
        )
