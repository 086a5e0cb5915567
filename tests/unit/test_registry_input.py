"""Hostile and careless jobs.yaml input: bounded work, one clear error, literals kept literal.

Issue 12, points 1-3 and 7. Every case goes through `jobctl` itself (`main([...])`) or the
loader, and asserts the refusal and its message; timing is measured in the report, not
asserted here (a loaded CI machine must not turn a refusal into a failure).
"""

from __future__ import annotations

import itertools
import os
import threading
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from jobctl.cli.main import main
from jobctl.registry import models
from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import load_registry, parse_registry
from jobctl.registry.yamldoc import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES
from tests.support.registries import BASE

JOB = "jobs:\n  a: {schedule: rate(1 hour)}\n"


def refused(text: str) -> list[str]:
    """What the loader reports for `text`, rendered, without the file name."""
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, "jobs.yaml")
    return [d.render().removeprefix("jobs.yaml:") for d in caught.value.diagnostics]


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `jobctl ARGS`; the exit status and stderr (a traceback would fail the test)."""
    status = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


# --- point 1: alias expansion, nesting depth and file size are bounded ---------------------


def billion_laughs() -> str:
    """The classic: nine levels of nine aliases, 10^9 strings once expanded."""
    lines = [
        "version: 1",
        "project: lol",
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    names = "abcdefghi"
    for previous, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    lines.append("jobs: {}")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_alias_that_passes_the_bound() -> None:
    text = billion_laughs()
    assert len(text.encode()) < 600  # the 574-byte attack
    (line,) = refused(text)
    # Refused at the alias whose expansion passes the bound: the first '*e' (10^5 nodes
    # would follow from it alone), long before the 10^9 strings are built.
    assert line == (
        f"8:8: alias '*e' expands the registry past {MAX_ALIAS_NODES:,} nodes, "
        "the limit for what aliases and merge keys may add"
    )
    assert text.splitlines()[7][7:].startswith("*e")


def test_nested_merge_keys_are_bounded_too() -> None:
    # Each level merges the previous twice: 2^40 mappings, with no value to count.
    lines = ["version: 1", "project: lol", "m0: &m0 {}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 41)]
    (line,) = refused("\n".join([*lines, JOB]))
    assert "alias '*m" in line and f"past {MAX_ALIAS_NODES:,} nodes" in line


def test_a_top_level_merge_is_bounded_too() -> None:
    lines = ["m0: &m0 {x: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    text = "\n".join([*lines, "<<: *m39", "version: 1", "project: lol", JOB])
    (line,) = refused(text)
    assert f"past {MAX_ALIAS_NODES:,} nodes" in line


def test_merging_an_aliased_list_counts_what_it_lists() -> None:
    # `<<: *list` brings inline mappings through the alias: 300 uses x 1,000 keys.
    keys = ", ".join(f"k{i}: 1" for i in range(1000))
    lines = ["version: 1", "project: x", f"s: &s [{{{keys}}}]"]
    lines += [f"u{i}: {{<<: *s}}" for i in range(300)]
    (line,) = refused("\n".join([*lines, JOB]))
    assert line.endswith(
        f"alias '*s' expands the registry past {MAX_ALIAS_NODES:,} nodes, "
        "the limit for what aliases and merge keys may add"
    )


def test_recursive_merge_is_an_error_not_a_recursion() -> None:
    lines = refused(BASE + "x: &x {<<: *x}\n" + JOB)
    assert "9:12: x: recursive alias '*x'" in lines


def test_real_anchors_far_below_the_bound_still_work(write_registry) -> None:
    jobs = "".join(f"  j{i}: {{<<: *common, command: [run, '{i}']}}\n" for i in range(300))
    anchor = "jobs:\n  base: &common {schedule: rate(1 hour), timeout: 10m}\n"
    registry = load_registry(write_registry(anchor + jobs))
    assert len(registry.jobs_for(None)) == 301


def test_deep_nesting_is_a_located_error_not_a_recursion_error() -> None:
    text = "version: 1\nproject: x\n" + JOB + "x: " + "[" * 500 + "]" * 500 + "\n"
    (line,) = refused(text)
    assert (
        line
        == f"5:{3 + MAX_DEPTH}: nested deeper than {MAX_DEPTH} levels, the limit for a registry"
    )


def test_nesting_through_aliases_is_bounded_too() -> None:
    # Each anchor nests 60 levels and refers to the previous one: 60 x 40 levels expanded.
    lines = ["version: 1", "project: x", "n0: &n0 [1]"]
    for i in range(1, 41):
        lines.append(f"n{i}: &n{i} " + "[" * 60 + f"*n{i - 1}" + "]" * 60)
    (line,) = refused("\n".join([*lines, JOB]))
    assert f"nested deeper than {MAX_DEPTH} levels" in line
    assert "(counting what aliases expand to)" in line


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, capsys) -> None:
    assert MAX_FILE_BYTES == 4 * 1024 * 1024
    path = tmp_path / "jobs.yaml"
    path.write_text(BASE + JOB + "# " + "x" * MAX_FILE_BYTES + "\n")
    status, err = cli(["validate", str(path)], capsys)
    assert status == 2
    assert f"{path}:1:1: the file is larger than 4 MiB, the limit for a registry" in err
    assert refused(BASE + JOB + "#" + "é" * (MAX_FILE_BYTES // 2)) == [
        "1:1: the file is larger than 4 MiB, the limit for a registry"
    ]


def test_a_path_that_streams_forever_is_read_up_to_the_limit(capsys) -> None:
    status, err = cli(["validate", "/dev/zero"], capsys)
    assert status == 2
    assert err.startswith("/dev/zero:1:1: the file is larger than 4 MiB")


@pytest.fixture
def endless_fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO that a writer fills with comment lines until the reader goes away."""
    path = tmp_path / "jobs.yaml"
    os.mkfifo(path)

    def write() -> None:
        try:
            with path.open("w") as fifo:
                fifo.write(BASE + JOB)
                while True:
                    fifo.write("# more\n" * 1000)
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    yield path
    writer.join(timeout=10)
    assert not writer.is_alive()


def test_a_fifo_that_never_ends_is_refused(endless_fifo: Path, capsys) -> None:
    status, err = cli(["validate", str(endless_fifo)], capsys)
    assert status == 2
    assert "the file is larger than 4 MiB, the limit for a registry" in err


# --- point 2: tracebacks where the contract is "never" --------------------------------------


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!foo bar", "!foo"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!!python/object/apply:os.system [echo]", "!!python/object/apply:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
    ],
)
def test_custom_tags_are_refused_with_one_line(
    value: str, tag: str, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(BASE + f"jobs:\n  a:\n    schedule: rate(1 hour)\n    description: {value}\n")
    status, err = cli(["validate", str(path)], capsys)
    assert status == 2
    assert (
        f"{path}:12:18: job 'a': description: unsupported tag '{tag}': jobs.yaml holds "
        "only text, numbers, booleans, lists and mappings"
    ) in err.splitlines()


def test_an_invalid_core_tag_value_is_an_error(capsys, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(BASE + "jobs:\n  a: {schedule: rate(1 hour), cpu: !!int lots}\n")
    status, err = cli(["validate", str(path)], capsys)
    assert status == 2
    assert err.splitlines() == [
        f"{path}:10:36: job 'a': cpu: expected a whole number, found the text 'lots'",
        "1 problem found",
    ]


def test_a_5000_digit_number_is_refused_in_a_number_field(tmp_path: Path, capsys) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(BASE + "jobs:\n  a:\n    schedule: rate(1 hour)\n    cpu: " + "9" * 5000 + "\n")
    status, err = cli(["validate", str(path)], capsys)
    assert status == 2
    assert err.splitlines()[0] == (
        f"{path}:12:10: job 'a': cpu: expected a whole number, found a number of 5000 digits"
    )


def test_a_5000_digit_number_in_a_text_field_is_taken_as_written(write_registry) -> None:
    digits = "1" * 5000
    job = load_registry(
        write_registry(f"jobs:\n  a: {{schedule: rate(1 hour), command: [echo, {digits}]}}\n")
    ).job(None, "a")
    assert job is not None and job.command == ("echo", digits)


def test_a_lone_surrogate_is_refused_and_a_pair_is_its_character(tmp_path: Path, capsys) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        BASE + 'jobs:\n  a: {schedule: rate(1 hour), description: "ok \\ud83d\\ude00"}\n'
        '  b: {schedule: rate(1 hour), command: [echo, "\\ud800"]}\n'
    )
    for verb in (["validate"], ["build", "--out", str(tmp_path / "out")], ["render", "b"]):
        status, err = cli([*verb, "-f", str(path)], capsys)
        assert status == 2, verb
        assert err.splitlines() == [
            f"{path}:11:48: job 'b': command[1]: a lone surrogate escape (such as \\ud800) is "
            "not a character: write the character itself, or its pair of \\u escapes",
            "1 problem found",
        ]
    path.write_text(
        BASE + 'jobs:\n  a: {schedule: rate(1 hour), description: "ok \\ud83d\\ude00"}\n'
    )
    job = load_registry(path).job(None, "a")
    assert job is not None and job.description == "ok \N{GRINNING FACE}"


# AWS's documented rule: the year field of an EventBridge cron expression is 1970-2199
# (Amazon EventBridge User Guide, "Cron expressions", fields table).
@pytest.mark.parametrize("after", ["9999-12-31T23:59:00Z", "0001-01-01T00:00:00+01:00"])
def test_next_after_an_instant_out_of_range_is_a_usage_error(
    after: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2]
    with pytest.raises(SystemExit) as exited:
        main(["next", "-f", str(root / "jobs.yaml"), "--after", after])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument --after: '{after}' is outside the years cron covers (1970-2199)" in err


def test_next_after_the_last_instant_in_range_lists_what_is_left(capsys) -> None:
    root = Path(__file__).resolve().parents[2]
    args = ["next", "daily-report", "-f", str(root / "jobs.yaml"), "--env", "production"]
    assert main([*args, "--after", "2199-12-31T23:59:00Z"]) == 0
    assert "no fire times left" in capsys.readouterr().out


def test_build_out_where_no_directory_can_be_is_a_usage_error(tmp_path: Path, capsys) -> None:
    root = Path(__file__).resolve().parents[2]
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, err = cli(
        ["build", "-f", str(root / "jobs.yaml"), "--out", str(blocker / "sm")], capsys
    )
    assert status == 2
    assert err.splitlines() == [f"jobctl: cannot write {blocker / 'sm'}: Not a directory"]


# --- point 3: unquoted scalars keep their source text in text fields ------------------------


def test_numbers_in_text_fields_keep_their_source_text(write_registry) -> None:
    path = write_registry(
        """\
        jobs:
          a:
            schedule: rate(1 hour)
            command: [app, 1.10, 0o17, 1e400, 0x1F, 007, 1_000, .inf, -0.0]
            environment: {VERSION: 1.10, MODE: 0o17, BIG: 1e400, MASK: 0x1F}
            tags: {release: 2.50}
            parameters:
              LEVEL: {enum: [1.0, 1.10, 0x1F], default: 1.10}
              DAY: {pattern: '\\d{4}-\\d{2}-\\d{2}', default: 2026-01-01}
            cpu: 0x400
            memory: 2048
            retry: {retries: 0o3, backoff_rate: 1.50}
        """
    )
    job = load_registry(path).job(None, "a")
    assert job is not None
    assert job.command == ("app", "1.10", "0o17", "1e400", "0x1F", "007", "1_000", ".inf", "-0.0")
    assert job.environment == {"VERSION": "1.10", "MODE": "0o17", "BIG": "1e400", "MASK": "0x1F"}
    assert job.tags == {"release": "2.50"}
    assert job.parameters["LEVEL"].enum == ("1.0", "1.10", "0x1F")
    assert job.parameters["LEVEL"].default == "1.10"
    assert job.parameters["DAY"].default == "2026-01-01"
    # Numeric fields stay numbers.
    assert (job.cpu, job.memory, job.retry.retries, job.retry.backoff_rate) == (1024, 2048, 3, 1.5)
    assert type(job.cpu) is int and type(job.retry.backoff_rate) is float


def test_a_number_where_only_text_is_allowed_names_it_as_written() -> None:
    lines = refused(BASE + "jobs:\n  a: {schedule: rate(1 hour), description: 1.10}\n")
    assert lines == ["10:44: job 'a': description: expected text, found the number 1.10: quote it"]


# --- point 7: no key of jobs.yaml is a YAML 1.1 boolean word -------------------------------

YAML11_BOOLEANS = {"y", "n", "yes", "no", "on", "off", "true", "false"}


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[tuple[str, str]]:
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        yield model.__name__, info.alias or name
        for inner in _models_in(info.annotation):
            yield from _field_names(inner, seen)


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def test_no_key_of_jobs_yaml_is_a_yaml_1_1_boolean_word() -> None:
    roots = [models.RegistrySpec, models.ResolvedJob]
    names = [pair for root in roots for pair in _field_names(root, set())]
    assert ("AlertsSpec", "events") in names  # the walk reaches nested models
    bad = [(model, name) for model, name in names if name.lower() in YAML11_BOOLEANS]
    assert bad == []


def test_the_old_alerts_on_spelling_gets_a_hint() -> None:
    lines = refused(BASE + "jobs:\n  a: {schedule: rate(1 hour), alerts: {on: [failure]}}\n")
    assert lines == [
        "10:40: job 'a': alerts: unknown key 'on': `on` is read as true by YAML 1.1 tools; "
        "use 'events'"
    ]


def test_a_control_character_in_the_file_is_one_located_line() -> None:
    lines = refused(BASE + 'jobs:\n  a: {schedule: rate(1 hour), description: "red \x1b[31m"}\n')
    assert lines == ["10:49: not valid YAML: the character U+001B is not allowed in YAML text"]
