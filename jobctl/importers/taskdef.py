"""One container spec -> an ECS task definition for `aws ecs register-task-definition`.

Owns `ContainerSpec` (what a source said about the container that runs the job), Kubernetes
resource quantities, rounding a size up to a Fargate CPU/memory combination, and the task
definition JSON (`--cli-input-json` / ecspresso shape). Invariants: the JSON names every
placeholder the user must fill with an upper-case word (`ACCOUNT_ID`, `REGION`) unless the
command line gave it; two jobs with equal specs share one task definition (`key()`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from jobctl.registry.fargate import CPU_CHOICES, memory_choices


class Volume(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    path: str
    read_only: bool = False


class ContainerSpec(BaseModel):
    """The container a job runs, as a task definition needs it."""

    model_config = ConfigDict(frozen=True)

    name: str
    image: str
    entry_point: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()
    cpu: int = 256
    memory: int = 512
    working_directory: str | None = None
    user: str | None = None
    readonly_root: bool | None = None
    ephemeral_gib: int | None = None
    arm64: bool = False
    stop_timeout: int | None = None
    task_role: str | None = None
    volumes: tuple[Volume, ...] = ()

    def key(self) -> str:
        return self.model_dump_json()


def task_definition(family: str, spec: ContainerSpec, region: str, account: str) -> dict[str, Any]:
    """The register-task-definition input for `spec`, logging to CloudWatch Logs."""
    container: dict[str, Any] = {"name": spec.name, "image": spec.image, "essential": True}
    if spec.entry_point is not None:
        container["entryPoint"] = list(spec.entry_point)
    if spec.command is not None:
        container["command"] = list(spec.command)
    if spec.environment:
        container["environment"] = [{"name": n, "value": v} for n, v in spec.environment]
    if spec.secrets:
        container["secrets"] = [{"name": n, "valueFrom": v} for n, v in spec.secrets]
    if spec.working_directory:
        container["workingDirectory"] = spec.working_directory
    if spec.user:
        container["user"] = spec.user
    if spec.readonly_root is not None:
        container["readonlyRootFilesystem"] = spec.readonly_root
    if spec.stop_timeout is not None:
        container["stopTimeout"] = spec.stop_timeout
    if spec.volumes:
        container["mountPoints"] = [
            {"sourceVolume": v.name, "containerPath": v.path, "readOnly": v.read_only}
            for v in spec.volumes
        ]
    container["logConfiguration"] = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": f"/ecs/{family}",
            "awslogs-region": region,
            "awslogs-stream-prefix": "job",
            "awslogs-create-group": "true",
        },
    }
    definition: dict[str, Any] = {
        "family": family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": str(spec.cpu),
        "memory": str(spec.memory),
        "runtimePlatform": {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": "ARM64" if spec.arm64 else "X86_64",
        },
        "executionRoleArn": f"arn:aws:iam::{account}:role/ecsTaskExecutionRole",
    }
    if spec.task_role:
        definition["taskRoleArn"] = f"arn:aws:iam::{account}:role/{spec.task_role}"
    if spec.ephemeral_gib:
        definition["ephemeralStorage"] = {"sizeInGiB": spec.ephemeral_gib}
    if spec.volumes:
        definition["volumes"] = [{"name": name} for name in sorted({v.name for v in spec.volumes})]
    definition["containerDefinitions"] = [container]
    return definition


def dumps(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2) + "\n"


def fargate_size(cpu_units: float | None, memory_mib: float | None) -> tuple[int, int, bool]:
    """The smallest Fargate (cpu, memory) holding the request, and whether that fits it.

    Returns the largest size with False when the request exceeds every Fargate size.
    """
    want_cpu = cpu_units or 0
    want_memory = memory_mib or 0
    for cpu in CPU_CHOICES:
        if cpu < want_cpu:
            continue
        fitting = [memory for memory in memory_choices(cpu) if memory >= want_memory]
        if fitting:
            return cpu, fitting[0], True
    largest = CPU_CHOICES[-1]
    return largest, memory_choices(largest)[-1], False


_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?(?:[eE][0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_MEMORY_UNITS = {
    None: 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def cpu_units(quantity: object) -> float | None:
    """A Kubernetes CPU quantity (`500m`, `2`, `0.5`) in ECS CPU units (1 vCPU = 1024)."""
    match = _CPU.match(str(quantity).strip())
    if match is None:
        return None
    value = float(match.group(1)) / (1000 if match.group(2) else 1)
    return value * 1024


def memory_mib(quantity: object) -> float | None:
    """A Kubernetes memory quantity (`512Mi`, `1G`, `134217728`) in MiB."""
    match = _MEMORY.match(str(quantity).strip())
    if match is None:
        return None
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2)] / 2**20


def gib_up(mib: float) -> int:
    return math.ceil(mib / 1024)
