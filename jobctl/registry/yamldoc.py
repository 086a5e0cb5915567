"""YAML text -> plain Python data plus the source position of every key and value.

Owns reading jobs.yaml with ruamel.yaml's composer (YAML 1.2: `on`, `yes` and `no` stay
strings) and the bounds that keep a hostile file cheap to refuse. Invariants:
- every duplicate key in any mapping is reported (PyYAML and most loaders silently keep
  the last one), the first occurrence wins; merge keys (`<<`) and anchors work as in YAML;
  positions are 1-based; mapping keys are the key's source text;
- nothing is evaluated: only the core schema's tags (text, numbers, booleans, null, lists,
  mappings, merge keys) are read, any other tag (`!foo`, `!!python/...`, `!!binary`) is
  refused; a plain scalar that YAML reads as a number keeps its source text (`Sourced*`)
  so a text field gets `1.10` as written, never `1.1`; timestamps stay text;
- bounded work: at most `MAX_ALIAS_NODES` nodes reached through aliases and merge keys
  (a "billion laughs" file is refused at the alias that passes the bound, not expanded),
  nesting at most `MAX_DEPTH` levels (counted through aliases too), and
  `MAX_FILE_BYTES` of text (the file reader reads no more than that, so a stream that
  never ends is refused too);
- every string is made of Unicode characters: an escaped surrogate pair becomes its
  character, a lone surrogate (`"\\ud800"`) is refused (JSON encoders cannot write it).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from jobctl.registry.diagnostics import Diagnostic, RegistryError, render_field, subject_of

Path = tuple[str | int, ...]
Position = tuple[int, int]
_T = TypeVar("_T")

# Far above any real registry (the example is 4 KB and nests 6 levels; 10,000 jobs with two
# problems each are 1.3 MB; 1,000 jobs that each merge a 20-key anchor reach 20,000 aliased
# nodes), far below what hurts: refusing at 100,000 aliased nodes takes under a second and
# some 20 MB, where a 574-byte "billion laughs" file used to take 35 s and 2.5 GB, then die.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000

_CORE = "tag:yaml.org,2002:"
_SURROGATE = re.compile("[\ud800-\udfff]")
_MERGE_TAG = _CORE + "merge"
_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP = (
    _CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, _MERGE_TAG}
_COLLECTION_TAGS = {_CORE + "seq", _CORE + "map"}


class SourcedInt(int):
    """An integer as YAML read it, with the text it was written as (`0o17`, `0x1F`)."""

    source: str

    def __new__(cls, value: int, source: str) -> SourcedInt:
        number = super().__new__(cls, value)
        number.source = source
        return number


class SourcedFloat(float):
    """A float as YAML read it, with the text it was written as (`1.10`, `1e400`)."""

    source: str

    def __new__(cls, value: float, source: str) -> SourcedFloat:
        number = super().__new__(cls, value)
        number.source = source
        return number


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


def too_large(file: str) -> RegistryError:
    """The refusal of a registry over `MAX_FILE_BYTES` (the file reader uses it too)."""
    limit = f"{MAX_FILE_BYTES // (1024 * 1024)} MiB"
    return RegistryError(
        [Diagnostic(1, 1, f"the file is larger than {limit}, the limit for a registry", file=file)]
    )


def load_document(text: str, file: str) -> Document:
    """Parse `text`; raise RegistryError for text that is not a YAML mapping.

    Duplicate keys, unsupported tags and lone surrogates do not stop parsing: they are kept
    in `Document.diagnostics`. Passing a bound (size, depth, aliases) does.
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise too_large(file)
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _Composer
    try:
        root = yaml.compose(text)
    except _Refused as exc:
        raise RegistryError([Diagnostic(*_mark(exc.mark), exc.message, file=file)]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark(mark) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        explained = _explained(text, line, col, str(problem))
        raise RegistryError(
            [Diagnostic(*explained[:2], f"not valid YAML: {explained[2]}", file=file)]
            if explained
            else [Diagnostic(line, col, f"not valid YAML: {problem}", file=file)]
        ) from None
    except ReaderError as exc:
        line, col = _offset(text, int(exc.position))
        problem = (
            f"the character U+{exc.character:04X} is not allowed in YAML text"
            if isinstance(exc.character, int)
            else str(exc.reason)
        )
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
    try:
        data = builder.build(root, ())
    except _Refused as exc:
        raise RegistryError([Diagnostic(*_mark(exc.mark), exc.message, file=file)]) from None
    return Document(data, file, builder.values, builder.keys, builder.diagnostics)


# What the parser says for the commonest slips in hand-written YAML (a tab, a level indented
# by a different number of spaces, a value running on under a key): its own words name the
# grammar, not the fix, so these get a message about the line as the user wrote it.
_INDENTATION_PROBLEMS = (
    "expected <block end>",
    "did not find expected key",
    "did not find expected '-' indicator",
    "mapping values are not allowed here",
)


def _explained(text: str, line: int, column: int, problem: str) -> tuple[int, int, str] | None:
    """(line, column, message) for a parser error with a known cause, else None."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    source = lines[line - 1]
    indent = len(source) - len(source.lstrip(" "))
    if "'\\t'" in problem or "\t" in problem:
        tab = source.find("\t")
        if tab < 0:
            return None
        if not source[:tab].strip(" "):
            return (
                line,
                tab + 1,
                "a tab indents this line: YAML indents with spaces only (jobs.yaml uses 2 per "
                "level); replace the tab with spaces",
            )
        return (line, tab + 1, "a tab cannot start a value here: use spaces")
    if not any(problem.startswith(known) for known in _INDENTATION_PROBLEMS):
        return None
    levels = _levels_above(lines, line)
    # Deeper than the line above is nesting (or a continued value); shallower must return
    # to a level that exists.
    if levels and indent < levels[0][0] and indent not in {level for level, _ in levels}:
        shown = ", ".join(f"{level} ('{key}')" for level, key in levels)
        return (
            line,
            indent + 1,
            f"this line is indented {indent} spaces, which matches no level above it "
            f"({shown}): indent it like the key it belongs beside, by the same number of "
            "spaces per level",
        )
    if problem.startswith("mapping values are not allowed here"):
        # At the line's own first colon: its key was read as the rest of the value above.
        if levels and indent > levels[0][0] and column - 1 == source.find(":"):
            level, key = levels[0]
            return (
                line,
                indent + 1,
                f"this line is indented deeper than '{key}' above it, so YAML reads it as the "
                f"rest of that value: indent it {level} spaces like '{key}'",
            )
        return (
            line,
            column,
            "a value that contains ': ' must be quoted: \"...\" or '...'",
        )
    return None


def _levels_above(lines: list[str], line: int) -> list[tuple[int, str]]:
    """(indentation, key) of the lines that enclose `line`, innermost first."""
    levels: list[tuple[int, str]] = []
    limit = None
    for source in reversed(lines[: line - 1]):
        content = source.strip(" ")
        if not content or content.startswith("#") or "\t" in source[: len(source) - len(content)]:
            continue
        indent = len(source) - len(content)
        if limit is None or indent < limit:
            key = content.removeprefix("- ").split(":", 1)[0].strip()
            levels.append((indent, _shown_key(key)))
            limit = indent
            if indent == 0:
                break
    return levels


def _shown_key(key: str) -> str:
    return key if len(key) <= 30 else f"{key[:27]}..."


def _offset(text: str, offset: int) -> Position:
    """The 1-based line and column of character `offset` of `text`."""
    line_start = text.rfind("\n", 0, offset) + 1
    return (text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _mark(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


def _start(node: Node) -> Position:
    return _mark(node.start_mark)


def _at(node: Node) -> Position:
    """Where a node's value is: a quoted scalar's text, not its opening quote."""
    line, column = _start(node)
    quoted = isinstance(node, ScalarNode) and node.style in ("'", '"')
    return (line, column + 1) if quoted else (line, column)


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f"the scalar {node.value!r}"
    return "a mapping"


def _too_deep() -> str:
    return f"nested deeper than {MAX_DEPTH} levels, the limit for a registry"


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


class _Refused(Exception):
    """A bound was passed: stop reading (a registry past it is refused as a whole)."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.mark, self.message = mark, message


class _Alias(Node):
    """An alias where it is written, with the node its anchor names.

    ruamel's composer hands back the anchored node itself, which loses where the alias
    is; expansion is counted (and refused) at the alias, so keep it.
    """

    def __init__(self, target: Node, name: str, start_mark: Any, end_mark: Any) -> None:
        super().__init__(target.tag, target.value, start_mark, end_mark)
        self.target, self.name = target, name


class _Composer(Composer):
    """ruamel's composer, keeping aliases as `_Alias` and refusing deep nesting.

    Composing recurses once per level (Python's stack ends near 300 levels of YAML), so
    the depth is bounded here, before `RecursionError` could be raised.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._levels = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            target = self.anchors.get(event.anchor)
            if target is None:
                return super().compose_node(parent, index)  # reports the undefined alias
            self.parser.get_event()
            return _Alias(target, str(event.anchor), event.start_mark, event.end_mark)
        self._levels += 1
        try:
            if self._levels > MAX_DEPTH:
                raise _Refused(self.parser.peek_event().start_mark, _too_deep())
            return super().compose_node(parent, index)
        finally:
            self._levels -= 1


class _Builder:
    """Composed nodes -> plain data, positions and the diagnostics that do not stop reading.

    Aliases are expanded here (every use is a fresh copy, so a path has one position), which
    is where the node budget and the depth bound are counted.
    """

    def __init__(self, yaml: YAML, file: str) -> None:
        self._constructor = yaml.constructor
        self._file = file
        self._active: set[int] = set()  # guards against recursive aliases
        self._aliases: list[_Alias] = []  # the aliases being expanded, outermost first
        self._expanded = 0  # nodes built through aliases and merge keys so far
        self._depth = 0
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.diagnostics: list[Diagnostic] = []

    def build(self, node: Node, path: Path) -> Any:
        if isinstance(node, _Alias):
            if id(node.target) in self._active:
                self._error(node, f"recursive alias '*{node.name}'", path)
                self.values.setdefault(path, _start(node))
                return None
            return self._through(node, lambda: self.build(node.target, path))
        self.values.setdefault(path, _at(node))
        if isinstance(node, ScalarNode):
            self._count(node)
            return self._scalar(node, path)
        return self._nested(node, lambda: self._collection(node, path))

    def _collection(self, node: Node, path: Path) -> Any:
        if str(node.tag) not in _COLLECTION_TAGS:
            self._unsupported(node, path)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        merged: list[tuple[_Alias | None, MappingNode]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, _Alias) and isinstance(key_node.target, ScalarNode):
                key_node = key_node.target  # `*name: value`: the anchored scalar is the key
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self._error(key_node, "mapping keys must be plain scalars")
                continue
            if str(key_node.tag) not in _SCALAR_TAGS:
                self._unsupported(key_node, path)
            key = self._text(key_node, path)
            if key in first_seen:
                line, _ = first_seen[key]
                self._error(key_node, f"duplicate key '{key}' (first defined on line {line})", path)
                continue
            first_seen[key] = _start(key_node)
            self.keys.setdefault((*path, key), _start(key_node))
            result[key] = self.build(value_node, (*path, key))
        # Explicit keys win over merged ones, and earlier merge sources over later ones.
        for alias, source in merged:
            for key, value in self._merged(alias, source, path).items():
                result.setdefault(key, value)
        return result

    def _merged(self, alias: _Alias | None, source: MappingNode, path: Path) -> dict[str, Any]:
        """The keys one merge source brings, counted (and bounded) like any expansion."""
        if alias is None:
            return self._nested(source, lambda: self._mapping(source, path))
        if id(source) in self._active:
            self._error(alias, f"recursive alias '*{alias.name}'", path)
            return {}
        return self._through(
            alias, lambda: self._nested(source, lambda: self._mapping(source, path))
        )

    def _merge_sources(self, node: Node, path: Path) -> Iterator[tuple[_Alias | None, MappingNode]]:
        """(the alias it is reached through, if any; the mapping) for each merge source."""
        outer = node if isinstance(node, _Alias) else None
        if outer is not None and isinstance(outer.target, SequenceNode):
            node = outer.target  # `<<: *list_of_mappings`: what it lists comes through `outer`
        items = node.value if isinstance(node, SequenceNode) else [node]
        for item in items:
            alias = item if isinstance(item, _Alias) else outer
            target = item.target if isinstance(item, _Alias) else item
            if isinstance(target, MappingNode):
                yield alias, target
            else:
                self._error(item, "'<<' merges only mappings", path)

    # --- bounds ---------------------------------------------------------------------------

    def _through(self, alias: _Alias, build: Callable[[], _T]) -> _T:
        """Build what `alias` names, counting every node it brings against the budget."""
        self._aliases.append(alias)
        try:
            return build()
        finally:
            self._aliases.pop()

    def _count(self, node: Node) -> None:
        if not self._aliases:
            return
        self._expanded += 1
        if self._expanded > MAX_ALIAS_NODES:
            alias = self._aliases[0]
            raise _Refused(
                alias.start_mark,
                f"alias '*{alias.name}' expands the registry past {MAX_ALIAS_NODES:,} nodes, "
                "the limit for what aliases and merge keys may add",
            )

    def _nested(self, node: Node, build: Callable[[], _T]) -> _T:
        """One level deeper (through aliases too): bounded, and guarded against cycles."""
        self._count(node)
        self._depth += 1
        self._active.add(id(node))
        try:
            if self._depth > MAX_DEPTH:
                where = self._aliases[-1] if self._aliases else node
                raise _Refused(where.start_mark, _too_deep() + " (counting what aliases expand to)")
            return build()
        finally:
            self._active.discard(id(node))
            self._depth -= 1

    # --- scalars --------------------------------------------------------------------------

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        """A scalar's value, read with the core schema only; numbers keep their source text."""
        tag = str(node.tag)
        text = self._text(node, path)
        if tag in (_STR, _TIMESTAMP, _MERGE_TAG):
            # A date is text to every field of jobs.yaml, and `<<` as a value is just text.
            return text
        if tag not in _SCALAR_TAGS:
            self._unsupported(node, path)
            return text
        limit = sys.get_int_max_str_digits()  # 0: no limit
        if tag == _INT and limit and _digits(text) > limit:
            return text  # Python will not read it; text fields take it as written
        try:
            value = self._constructor.construct_object(node, deep=True)
        except Exception:  # ruamel raises ValueError, KeyError, ... for `!!int x`, `!!bool y`
            return text  # the field's type says what it expected, where it expected it
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return SourcedInt(value, text)
        if isinstance(value, float):
            return SourcedFloat(value, text)
        return text

    def _text(self, node: ScalarNode, path: Path) -> str:
        """The scalar's text; escaped surrogate pairs joined, lone surrogates refused."""
        text = str(node.value)
        if text.isascii() or not _SURROGATE.search(text):
            return text
        try:
            return text.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            self._error(
                node,
                "a lone surrogate escape (such as \\ud800) is not a character: write the "
                "character itself, or its pair of \\u escapes",
                path,
            )
            return text.encode("utf-8", "backslashreplace").decode("utf-8")

    def _unsupported(self, node: Node, path: Path) -> None:
        self._error(
            node,
            f"unsupported tag '{_shown_tag(str(node.tag))}': jobs.yaml holds only text, "
            "numbers, booleans, lists and mappings",
            path,
            at=_start(node),  # the tag, which comes before any quote
        )

    def _error(
        self, node: Node, message: str, path: Path = (), *, at: Position | None = None
    ) -> None:
        line, col = at or _at(node)
        job, field = subject_of(path)
        self.diagnostics.append(
            Diagnostic(line, col, message, job, render_field(field), file=self._file)
        )


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)
