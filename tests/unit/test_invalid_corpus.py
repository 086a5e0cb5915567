"""The corpus of invalid registries in tests/data/invalid: each file declares its diagnostics.

Every file is a realistic registry with one (sometimes two or three) deliberate mistakes.
Its leading `# expect: LINE:COL: ...` comments list exactly what `jobctl validate` must
print for it, without the `FILE:` prefix: no more, no fewer, at exactly those positions.

Files listed in KNOWN_PROBLEMS hold the output we believe is right where the current
implementation prints something else; they are strict xfails, so fixing the implementation
turns them into failures until the entry is removed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))

_EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?P<column>\d+): \S")
_NAME = re.compile(r"^(?P<number>\d{2,3})-[a-z0-9]+(-[a-z0-9]+)*\.yaml$")

# Files whose expectation the implementation does not meet yet (strict xfails). Empty: every
# problem the corpus found has been fixed; add an entry rather than weaken an expectation.
KNOWN_PROBLEMS: dict[str, str] = {}


def expected_lines(path: Path) -> list[str]:
    """The `# expect:` lines of `path`, without the marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


def rendered(path: Path) -> tuple[list[str], int]:
    """What the loader reports for `path`, without the `FILE:` prefix, and how many."""
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    diagnostics = caught.value.diagnostics
    prefix = f"{path}:"
    lines = [diagnostic.render() for diagnostic in diagnostics]
    assert all(line.startswith(prefix) for line in lines), lines
    return [line.removeprefix(prefix) for line in lines], len(diagnostics)


def _params() -> list[object]:
    params = []
    for path in FILES:
        reason = KNOWN_PROBLEMS.get(path.name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(path, id=path.name, marks=marks))
    return params


@pytest.mark.parametrize("path", _params())
def test_invalid_file_reports_exactly_its_expected_diagnostics(path: Path) -> None:
    expected = expected_lines(path)
    assert expected, f"{path.name} declares no '# expect:' lines"
    assert len(set(expected)) == len(expected), f"{path.name} repeats an '# expect:' line"

    actual, count = rendered(path)

    assert set(actual) == set(expected)
    # The CLI prints one line per diagnostic: the count must match too.
    assert count == len(expected)
    # Positions, line by line: every expected LINE:COL is reported and lies inside the file.
    source = path.read_text(encoding="utf-8").splitlines() or [""]
    positions = sorted(_position(line) for line in actual)
    assert positions == sorted(_position(line) for line in expected)
    for line, column in positions:
        assert 1 <= line <= len(source), (line, column)
        assert 1 <= column <= len(source[line - 1]) + 1, (line, column)


def _position(rendered_line: str) -> tuple[int, int]:
    match = _EXPECT.match("# expect: " + rendered_line)
    assert match, f"not 'LINE:COL: message': {rendered_line!r}"
    return int(match["line"]), int(match["column"])


def test_corpus_is_large_and_well_formed() -> None:
    assert len(FILES) >= 40
    numbers = []
    for path in FILES:
        match = _NAME.match(path.name)
        assert match, f"{path.name} is not named NN-short-description.yaml"
        numbers.append(int(match["number"]))
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines and lines[0].startswith("#"), f"{path.name} must start with comments"
    assert len(set(numbers)) == len(numbers), "two corpus files share a number"


def test_known_problems_name_existing_files() -> None:
    names = {path.name for path in FILES}
    assert set(KNOWN_PROBLEMS) <= names


def test_example_registry_loads_cleanly() -> None:
    registry = load_registry(ROOT / "jobs.yaml")
    assert registry.targets
    for env in registry.targets:
        assert len(registry.jobs_for(env)) >= 5, env
