"""Self-check: the moto defects jobctl/local/moto_runtime.py fixes are still there, and
the fixes are in place. If moto changes (an upgrade, or a defect fixed upstream), this fails
loudly instead of letting the suite pass or fail for the wrong reason."""

from __future__ import annotations

import json
import subprocess
import sys

import moto

from jobctl.local import moto_runtime

PRISTINE = r"""
import inspect, json
import moto.stepfunctions.parser.asl.jsonata.jsonata as jsonata_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service as base, state_task_service_ecs as ecs, state_task_service_aws_sdk as sdk,
)
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
stub = base.StateTaskService._normalise_parameters
print(json.dumps({
    "jsonata_evaluator_missing": jsonata_module._eval_jsonata is None,
    "ecs_parameters_not_normalised": ecs.StateTaskServiceEcs._normalise_parameters is stub,
    "ecs_response_not_normalised": ecs.StateTaskServiceEcs._normalise_response is base.StateTaskService._normalise_response,
    "ecs_sync_ignores_exit_codes": "exitCode" not in inspect.getsource(ecs.StateTaskServiceEcs._build_sync_resolver),
    "aws_sdk_parameters_not_normalised": sdk.StateTaskServiceAwsSdk._normalise_parameters is stub,
    "eni_dns_name_only_with_dns_hostnames": not hasattr(NetworkInterface, "private_dns_name"),
    "retries_sleep_in_real_time": retrier_decl.time.__name__ == "time",
}))
"""


def test_moto_is_the_version_the_fixes_were_checked_on() -> None:
    assert moto.__version__ == moto_runtime.MOTO_VERSION


def test_every_defect_is_still_present_in_pristine_moto() -> None:
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", PRISTINE], check=True, capture_output=True, text=True
        ).stdout
    )
    assert found == {name: True for name in found}, (
        "moto changed: a defect listed in jobctl/local/moto_runtime.py is gone; "
        f"re-check its fix: {found}"
    )
    assert len(found) == 7


def test_install_replaces_each_defective_piece() -> None:
    import moto.stepfunctions.parser.asl.jsonata.jsonata as jsonata_module
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service as base,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_ecs as ecs,
    )

    moto_runtime.install()
    moto_runtime.install()  # idempotent
    assert jsonata_module._eval_jsonata is not None
    assert jsonata_module._eval_jsonata("$parse('{\"a\": 2}').a + 1") == 3
    assert (
        ecs.StateTaskServiceEcs._normalise_parameters
        is not base.StateTaskService._normalise_parameters
    )
    assert (
        sdk.StateTaskServiceAwsSdk._normalise_parameters
        is ecs.StateTaskServiceEcs._normalise_parameters
    )
