"""Make moto's Step Functions interpreter evaluate JSONata (defect in moto 5.2.5).

moto ships LocalStack's JSONata-aware interpreter, but its evaluator hook
(`moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata`) is left as `None`, so any
JSONata state fails. This wires it to jsonata-python, a port of the same jsonata-java
engine LocalStack uses, and adds `$parse`, the one function Step Functions provides in place
of `$eval`. The runtime fixes for moto (ECS .sync, exit codes, retries) will join this in one
module; until then tests import this.
"""

from __future__ import annotations

import json
from typing import Any

import jsonata
import moto.stepfunctions.parser.asl.jsonata.jsonata as moto_jsonata


def _evaluate(expression: str) -> Any:
    compiled = jsonata.Jsonata(expression)
    compiled.register_lambda("parse", lambda text: json.loads(text))
    return compiled.evaluate(None)


def install() -> None:
    moto_jsonata._eval_jsonata = _evaluate


def installed() -> bool:
    return moto_jsonata._eval_jsonata is _evaluate
