"""JSONata for moto's interpreter (defect 1).

1. JSONata is not evaluated: the evaluator hook
   (`moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata`) is None. Fixed by wiring
   jsonata-python (a port of the jsonata-java engine LocalStack uses) plus `$parse`, the
   function Step Functions provides instead of `$eval`.

Invariant: `evaluate` is pure (a fresh compiled expression per call, no input document:
moto binds every variable into the expression text), so concurrent executions share it.
"""

from __future__ import annotations

import json
from typing import Any

import jsonata
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

from jobctl.local.moto.hook import Patch


def evaluate(expression: str) -> Any:
    compiled = jsonata.Jsonata(expression)
    compiled.register_lambda("parse", lambda text: json.loads(text))
    return compiled.evaluate(None)


PATCHES = (Patch(moto_jsonata, "_eval_jsonata", evaluate),)
