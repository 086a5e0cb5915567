"""Oracle 4: the JSONata the compiled machines use, against what AWS documents.

moto evaluates JSONata with jsonata-python 0.7.1 (wired in by jobctl.local.moto); AWS Step
Functions with JSONata 2.0.6, without `$eval` and with its own `$partition`, `$range`,
`$hash`, `$random`, `$uuid` and `$parse` (Step Functions developer guide, "Transforming
data with JSONata"). Here:
- every expression of every machine the test registries compile is collected, and the
  functions and operators it uses are listed (`inventory`); each must be in AWS's set;
- the list is pinned (`USED_FUNCTIONS`, `USED_OPERATORS`): a function or operator the
  compiler starts to emit fails the test until it is added here with a differential case;
- `CASES` are the kinds of expression the compiler emits, each with the value JSONata's
  reference (docs.jsonata.org, the 2.0 function library) gives, written from the reference,
  not from jsonata-python's output; they run on jsonata-python, so a difference between the
  two engines on what the machines rely on fails here instead of passing silently on moto.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from jobctl.compile.asl import SCHEDULED_TIME
from jobctl.deploy.resources import ResourceKind
from tests.support.asl_requests import AslError, evaluate
from tests.support.oracle_registries import deployments

# JSONata 2.0.6's function library (docs.jsonata.org: string, numeric, aggregation, boolean,
# array, object, date/time and higher-order functions) ...
JSONATA_FUNCTIONS = {
    "string",
    "length",
    "substring",
    "substringBefore",
    "substringAfter",
    "uppercase",
    "lowercase",
    "trim",
    "pad",
    "contains",
    "split",
    "join",
    "match",
    "replace",
    "eval",
    "base64encode",
    "base64decode",
    "encodeUrlComponent",
    "encodeUrl",
    "decodeUrlComponent",
    "decodeUrl",
    "formatNumber",
    "formatBase",
    "formatInteger",
    "parseInteger",
    "number",
    "abs",
    "floor",
    "ceil",
    "round",
    "power",
    "sqrt",
    "random",
    "sum",
    "max",
    "min",
    "average",
    "boolean",
    "not",
    "exists",
    "count",
    "append",
    "sort",
    "reverse",
    "shuffle",
    "distinct",
    "zip",
    "keys",
    "lookup",
    "spread",
    "merge",
    "sift",
    "each",
    "error",
    "assert",
    "type",
    "now",
    "millis",
    "fromMillis",
    "toMillis",
    "map",
    "filter",
    "single",
    "reduce",
}
# ... as Step Functions provides it: no $eval; its own functions added.
AWS_FUNCTIONS = (JSONATA_FUNCTIONS - {"eval"}) | {
    "partition",
    "range",
    "hash",
    "random",
    "uuid",
    "parse",
}
# JSONata 2.0's operators (docs.jsonata.org/other-operators, path, numeric, comparison,
# boolean, string): all are available on AWS.
AWS_OPERATORS = {
    ".",
    "[]",
    "{}",
    "()",
    ";",
    ":=",
    "? :",
    "&",
    "+",
    "-",
    "*",
    "/",
    "%",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "and",
    "or",
    "in",
    "~>",
    "..",
    "function",
    "regex",
    "^()",
    "@",
    "#",
    "**",
    "$$",
}

USED_FUNCTIONS = {
    "append",
    "contains",
    "count",
    "each",
    "error",
    "exists",
    "filter",
    "floor",
    "fromMillis",
    "join",
    "keys",
    "length",
    "lookup",
    "merge",
    "millis",
    "not",
    "now",
    "number",
    "parse",
    "sift",
    "split",
    "string",
    "substring",
    "toMillis",
    "type",
}

_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# a regex literal stands where an operand is expected: after `(`, `,` or at the start
_REGEX = re.compile(r"(?<=[(,])\s*/(?:[^/\\\n]|\\.)+/[im]*")


def expressions() -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
            found.add(value[2:-2])
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for deployment in deployments():
        for machine in deployment.of_kind(ResourceKind.STATE_MACHINE):
            walk(machine.spec["definition"])
    return found


def inventory(expression: str) -> tuple[set[str], set[str]]:
    """(functions, operators) one expression uses; string and regex literals are not read."""
    operators = set()
    if _REGEX.search(_STRINGS.sub("''", expression)):
        operators.add("regex")
    text = _REGEX.sub(" R ", _STRINGS.sub(" S ", expression))
    functions = set(re.findall(r"\$(\w+)\s*\(", text))
    if re.search(r"\bfunction\s*\(", text):
        operators.add("function")
    for word in ("and", "or", "in"):
        if re.search(rf"\b{word}\b", text):
            operators.add(word)
    for symbol in (":=", "!=", "<=", ">=", "~>", ".."):
        if symbol in text:
            operators.add(symbol)
            text = text.replace(symbol, " ")
    if "?" in text:
        operators.add("? :")
    for symbol in ("&", "=", "<", ">", "+", "*", "%", ";"):
        if symbol in text:
            operators.add(symbol)
    if re.search(r"[\w)\]]\s*-|-\s*\d", text):
        operators.add("-")
    if re.search(r"[\w)]\s*/", text):
        operators.add("/")
    if re.search(r"[\w)\]]\.\w", text):
        operators.add(".")
    if re.search(r"[\w)\]]\s*\[", text) or re.search(r"(^|[(,:\s])\[", text):
        operators.add("[]")
    if "{" in text:
        operators.add("{}")
    return functions, operators


def used() -> tuple[set[str], set[str]]:
    functions: set[str] = set()
    operators: set[str] = set()
    for expression in expressions():
        f, o = inventory(expression)
        functions |= f
        operators |= o
    return functions, operators


def test_every_function_and_operator_the_machines_use_is_in_aws_jsonata() -> None:
    functions, operators = used()
    assert functions - AWS_FUNCTIONS == set()
    assert operators - AWS_OPERATORS == set()
    assert "eval" not in functions  # Step Functions has no $eval


def test_the_inventory_is_pinned_and_each_entry_has_a_differential_case() -> None:
    functions, operators = used()
    assert functions == USED_FUNCTIONS, "a function was added or dropped: update CASES"
    covered_functions = {f for expression, *_ in CASES for f in inventory(expression)[0]}
    covered_operators = {o for expression, *_ in CASES for o in inventory(expression)[1]}
    assert functions - covered_functions == set()
    assert operators - covered_operators == set()


def test_the_inventory_sees_a_planted_eval_and_unknown_function() -> None:
    functions, _ = inventory("$eval('1 + 1') & $string('$eval(x)') & $frobnicate(1)")
    assert functions == {"eval", "string", "frobnicate"}
    assert functions - AWS_FUNCTIONS == {"eval", "frobnicate"}


# (expression, variables, value per the JSONata 2.0 reference). Kinds the compiler emits:
# variable defaults, input checks, dedupe keys, TTL arithmetic, the ECS environment list,
# the exit code and cause parsing, the alert text.
CASES: list[tuple[str, dict[str, Any], Any]] = [
    # $string: numbers without a trailing .0, 15 significant digits; objects as compact JSON
    ("$string(5) & '#' & $string(1.0)", {}, "5#1"),
    ("$string(0.1 + 0.2)", {}, "0.3"),
    ("$string({'a': 1, 'b': [true, null]})", {}, '{"a":1,"b":[true,null]}'),
    ("$string('already')", {}, "already"),
    # $substring: code points; a negative start counts from the end; length may overrun
    ("$substring('2026-12-01T03:00:00Z', 0, 16)", {}, "2026-12-01T03:00"),
    ("$substring('{x}', -1)", {}, "}"),
    ("$substring('abc', 0, 8000)", {}, "abc"),
    ("$substring('😀abc', 1, 2)", {}, "ab"),
    # $length counts characters (code points), as the API's Python len() does
    ("$length('😀') + $length('')", {}, 1),
    ("$split('arn:aws:states:eu-west-1:1:execution:m:r', ':')[3]", {}, "eu-west-1"),
    # conditions, existence, types
    ("$exists($x) ? 'set' : 'unset'", {}, "unset"),
    ("$exists($x.y)", {"x": {"y": None}}, True),
    ("$type($x) = 'null' and $type(1) = 'number' and $type('s') = 'string'", {"x": None}, True),
    ("$type({}) & ',' & $type([])", {}, "object,array"),
    ("$not($x in ['schedule', 'manual']) or $x != 'manual'", {"x": "manual"}, False),
    ("$count($keys({'a': 1, 'b': 2})) > 50", {}, False),
    ("$lookup({'MODE': ['full']}, 'MODE')", {}, ["full"]),
    ("$x.paused.BOOL", {"x": {"paused": {"BOOL": True}}}, True),
    ("[10, 20][1] >= 20 and 'a' < 'b' and 3 <= 3", {}, True),
    # arithmetic for TTLs, leases and retry delays
    ("$floor(1796094000123 / 1000) + 604800", {}, 1796698800),
    ("$number('1796094000000') - 1 + 7 % 4 * 2", {}, 1796094000005),
    ("$toMillis('2026-12-01T03:00:00Z')", {}, 1796094000000),
    ("$millis() > 1700000000000 and $type($millis()) = 'number'", {}, True),
    # block, binding, higher-order functions: the ECS environment list
    (
        "( $given := $p; $values := $merge([{'DATE': 'd', 'MODE': 'm'}, $sift($given, "
        "function($v, $k) { $k in ['DATE', 'MODE'] })]); $append([], $each($values, "
        "function($v, $k) { { 'Name': $k, 'Value': $string($v) } })) )",
        {"p": {"MODE": "full", "EXTRA": "x"}},
        [{"Name": "DATE", "Value": "d"}, {"Name": "MODE", "Value": "full"}],
    ),
    ("$append([], $each({}, function($v, $k) { $k }))", {}, []),
    ("$filter([1, 2, 3], function($v) { $v > 1 })", {}, [2, 3]),
    ("$join(['a', 'b'], ', ')", {}, "a, b"),
    # the Cause of a failed ECS task: parse the JSON, read the essential container
    (
        "( $c := $parse($cause); $c.Containers[0].ExitCode )",
        {"cause": '{"Containers": [{"ExitCode": 3}], "StopCode": "EssentialContainerExited"}'},
        3,
    ),
    (
        "$contains('Error Code: ClientException', /(AccessDenied|Cluster)Exception|ClientException/)",
        {},
        True,
    ),
    # the admission check: `$error` is evaluated only on the branch taken; a scheduled_time
    # must read as an ISO 8601 time before $toMillis measures from it
    ("$x != '' ? $error($x) : 'RUNNING'", {"x": ""}, "RUNNING"),
    (f"$contains('2026-12-01T03:00:00Z', /{SCHEDULED_TIME}/)", {}, True),
    (f"$contains('2026-12-01T03:00:00.5Z', /{SCHEDULED_TIME}/)", {}, True),
    (f"$contains('2026-12-01T03:00:00+09:00', /{SCHEDULED_TIME}/)", {}, False),
    # the late check: UTC times compared as text, against the latest on-time one
    ("$fromMillis($toMillis('2026-12-01T03:00:00.123Z') - 300000)", {}, "2026-12-01T02:55:00.123Z"),
    ("'2026-12-01T02:54:59Z' < '2026-12-01T02:55:00.123Z'", {}, True),
    ("'2026-12-01T03:00:00Z' < '2026-12-01T02:55:00.123Z'", {}, False),
    (f"$contains('2026-13-01T03:00:00Z', /{SCHEDULED_TIME}/)", {}, False),
    (f"$contains('2026-12-01 03:00', /{SCHEDULED_TIME}/)", {}, False),
    ("$toMillis('2026-12-01T03:00:00.123Z') - $toMillis('2026-12-01T03:00:00Z')", {}, 123),
    # $now(): ISO 8601 UTC with milliseconds
    ("$contains($now(), /^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$/)", {}, True),
]


@pytest.mark.parametrize("expression, variables, expected", CASES)
def test_jsonata_python_agrees_with_the_reference(
    expression: str, variables: dict[str, Any], expected: Any
) -> None:
    assert evaluate(expression, variables) == expected


def test_error_throws_its_message_as_a_query_evaluation_error() -> None:
    """JSONata: `$error(message)` "deliberately throws an error with an optional message";
    Step Functions fails the state with `States.QueryEvaluationError`, which a Catch takes."""
    from tests.support.asl_requests import QUERY_ERROR, _Failed

    with pytest.raises(_Failed) as thrown:
        evaluate("$x = '' ? 'RUNNING' : $error('refused: ' & $x)", {"x": "late"})
    assert (thrown.value.error, thrown.value.cause) == (QUERY_ERROR, "refused: late")


def test_a_wrong_expectation_fails() -> None:
    assert evaluate("$string(1.0)", {}) != "1.0"
    with pytest.raises(AslError):
        evaluate("$substring(", {})
