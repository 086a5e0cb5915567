"""Input files of `jobctl import`: bounded reading, YAML documents with line numbers.

Owns turning FILE arguments (or `-` for stdin, e.g. `kustomize build | jobctl import
kubernetes -`) into `SourceDoc`s: plain data (dicts, lists, str, int, float, bool, None) plus
the 1-based line of every key, built from ruamel's composer nodes so that no tag is ever
constructed or evaluated (an unknown tag such as `!Ref` leaves its text). Invariants: at most
`MAX_BYTES` per input and `MAX_NODES` nodes reached (aliases included), so a hostile file is
refused cheaply; every refusal is an `InputError` (exit 2) with FILE:LINE; a document that
still holds template syntax (`{{ ... }}`) is refused with a hint to render it first.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.core.errors import JobctlError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
PathT = tuple[str | int, ...]
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{\{-?\s*(if|end|range|with|define|include|else)\b")


class InputError(JobctlError):
    """Input that is not a valid manifest: FILE:LINE lines, exit 2."""

    exit_status = 2

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")

    def lines(self) -> list[str]:
        return [self.message]


def render_path(path: PathT) -> str:
    """`('spec', 'containers', 0, 'image')` -> `spec.containers[0].image`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class SourceDoc:
    """One YAML document: its data and where each of its paths starts."""

    data: Any
    file: str
    line: int
    end_line: int
    positions: dict[PathT, int] = field(default_factory=dict)

    def get(self, path: PathT) -> Any:
        value = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return None
            elif not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def has(self, path: PathT) -> bool:
        return path in self.positions

    def line_of(self, path: PathT) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return self.line

    def leaves(self, root: PathT) -> Iterator[PathT]:
        """Every leaf path under `root` (an empty mapping or list is a leaf)."""
        value = self.get(root)
        if isinstance(value, dict) and value:
            for key in value:
                yield from self.leaves((*root, key))
        elif isinstance(value, list) and value:
            for index in range(len(value)):
                yield from self.leaves((*root, index))
        elif root in self.positions or root == ():
            yield root

    def fail(self, path: PathT, message: str) -> InputError:
        return InputError(self.file, self.line_of(path), message)


def read_inputs(files: list[str]) -> list[tuple[str, str]]:
    """(name, text) of each FILE; `-` reads stdin (shown as `<stdin>`)."""
    inputs = []
    for name in files:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
            shown = "<stdin>"
        else:
            shown = name
            try:
                with Path(name).open("rb") as stream:
                    data = stream.read(MAX_BYTES + 1)
            except FileNotFoundError:
                raise InputError(name, 1, "no such file") from None
            except OSError as exc:
                raise InputError(name, 1, f"cannot read the file: {exc.strerror}") from None
        if len(data) > MAX_BYTES:
            raise InputError(shown, 1, f"larger than {MAX_BYTES // 1024 // 1024} MiB")
        try:
            inputs.append((shown, data.decode("utf-8-sig")))
        except UnicodeDecodeError as exc:
            raise InputError(shown, 1, f"not UTF-8 text: {exc.reason}") from None
    return inputs


def load_documents(text: str, file: str) -> list[SourceDoc]:
    """Every non-empty YAML document of `text` (a `---` separated stream)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="safe", pure=True)
    try:
        nodes = list(yaml.compose_all(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        template = _template_line(text, 1, len(text.splitlines()))
        if template is not None:
            raise _templated(file, template) from None
        problem = getattr(exc, "problem", None) or "malformed YAML"
        if file.endswith((".jsonnet", ".libsonnet")):
            problem += "; this is Jsonnet: render it first (`jsonnet FILE > FILE.json`)"
        raise InputError(file, line, f"not valid YAML: {problem}") from None
    docs = []
    for node in nodes:
        if node is None:
            continue
        builder = _Builder(file)
        data = builder.build(node, ())
        docs.append(
            SourceDoc(data, file, node.start_mark.line + 1, node.end_mark.line + 1, builder.lines)
        )
    return docs


def refuse_templates(doc: SourceDoc, text: str) -> None:
    """Refuse `doc` if its lines still hold template syntax (Helm, ecschedule, ecspresso)."""
    line = _template_line(text, doc.line, doc.end_line)
    if line is not None:
        raise _templated(doc.file, line)


def _template_line(text: str, first: int, last: int) -> int | None:
    for number, line in enumerate(text.splitlines()[first - 1 : last], start=first):
        code = line.split(" #", 1)[0]
        if not code.lstrip().startswith("#") and _TEMPLATE.search(code):
            return number
    return None


def _templated(file: str, line: int) -> InputError:
    return InputError(
        file,
        line,
        "this is a template ('{{ ... }}'), not a manifest: render it first "
        "(helm template ..., kustomize build ..., ecschedule dump) and import the output, "
        "e.g. `helm template . | jobctl import kubernetes -`",
    )


class _Builder:
    """Composer nodes -> plain data; records the line of every path; bounded."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[PathT, int] = {}
        self.count = 0

    def build(self, node: Any, path: PathT) -> Any:
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        self.count += 1
        if self.count > MAX_NODES or len(path) > 100:
            raise InputError(
                self.file, node.start_mark.line + 1, "too large or too deeply nested to import"
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag.endswith(":merge") and isinstance(value_node, MappingNode):
                    merged = self.build(value_node, path)
                    for key, value in merged.items():
                        result.setdefault(key, value)
                    continue
                key = str(key_node.value) if not isinstance(key_node.value, list) else "?"
                if key in result:
                    raise InputError(
                        self.file, key_node.start_mark.line + 1, f"duplicate key '{key}'"
                    )
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return _scalar(node.tag, node.value)


def _scalar(tag: str, text: str) -> Any:
    kind = tag.rsplit(":", 1)[-1]
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() in ("true", "yes", "on")
    if kind == "int":
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            return text
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            return text
    return text
