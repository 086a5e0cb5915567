"""JSONata for moto's interpreter (defect 1).

1. JSONata is not evaluated: the evaluator hook
   (`moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata`) is None. Fixed by wiring
   jsonata-python (a port of the jsonata-java engine LocalStack uses) plus `$parse`, the
   function Step Functions provides instead of `$eval`.
11. A variable holding a string with a double quote or a backslash breaks every later
   expression that reads a variable: moto binds variables into the expression text and
   writes a string one as `"{value}"`, unescaped (a `triggered_by` of `a"b` fails the run
   with a JSONata parse error). Fixed by writing string values as JSON string literals;
   other values are written as moto writes them.

Invariant: `evaluate` is pure (a fresh compiled expression per call, no input document:
moto binds every variable into the expression text), so concurrent executions share it.
"""

from __future__ import annotations

import json
from typing import Any

import jsonata
from moto.stepfunctions.parser.asl.eval import states as moto_states
from moto.stepfunctions.parser.asl.eval import variable_store as moto_variable_store
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

from jobctl.local.moto.hook import Patch


def evaluate(expression: str) -> Any:
    compiled = jsonata.Jsonata(expression)
    compiled.register_lambda("parse", lambda text: json.loads(text))
    return compiled.evaluate(None)


_encode = moto_jsonata.encode_jsonata_variable_declarations


def encode_variable_declarations(bindings: dict[str, Any]) -> str:
    """`$name:=value;` for each binding, a string value as a JSON string literal (defect 11)."""
    return "".join(
        f"{reference}:={json.dumps(value, ensure_ascii=False)};"
        if isinstance(value, str)
        else _encode({reference: value})
        for reference, value in bindings.items()
    )


PATCHES = (
    Patch(moto_jsonata, "_eval_jsonata", evaluate),
    # moto's modules import the encoder by name: patch each reference.
    Patch(moto_states, "encode_jsonata_variable_declarations", encode_variable_declarations),
    Patch(
        moto_variable_store,
        "encode_jsonata_variable_declarations",
        encode_variable_declarations,
    ),
)
