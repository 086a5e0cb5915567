"""A validated registry -> everything jobctl deploys, as data.

Owns `CompiledJob` (one job in one environment: names, state machine, trigger, IAM) and the
layout of the committed `statemachines/` directory: `<job>.asl.json` for a registry without
environments, `<job>.<env>.asl.json` per declared environment otherwise (job names cannot
contain dots, so the two never collide). One file per environment is a deliberate choice:
the committed file is exactly what runs there (cluster, subnets, timeouts differ between
environments), so a pull request that changes the production overlay shows its production
effect in review; only the account, region and partition stay placeholders.
Invariants: pure and deterministic; compiling the same registry twice yields identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.names import JobNames, job_names, resource_tags
from jobctl.compile.asl import compile_state_machine, render_json
from jobctl.compile.iam import execution_policy, execution_trust_policy
from jobctl.compile.triggers import compile_trigger
from jobctl.registry.loader import Registry
from jobctl.registry.models import ResolvedJob


@dataclass(frozen=True)
class CompiledJob:
    job: ResolvedJob
    names: JobNames
    definition: dict[str, Any]
    trigger: dict[str, Any]
    policy: dict[str, Any]
    trust_policy: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return asl_file_name(self.job.name, self.job.env)

    def definition_text(self) -> str:
        return render_json(self.definition)

    def to_document(self) -> dict[str, Any]:
        """Everything this job compiles to, for `jobctl render` and golden files."""
        return {
            "job": self.job.name,
            "environment": self.job.env,
            "names": {
                "state_machine": self.names.state_machine,
                "trigger": self.trigger["Name"],
                "role": self.names.role,
            },
            "state_machine": self.definition,
            "trigger": self.trigger,
            "iam": {"policy": self.policy, "trust_policy": self.trust_policy},
            "tags": self.tags,
        }


def asl_file_name(job: str, env: str | None) -> str:
    return f"{job}.{env}.asl.json" if env else f"{job}.asl.json"


def compile_job(job: ResolvedJob) -> CompiledJob:
    return CompiledJob(
        job=job,
        names=job_names(job.project, job.env, job.name),
        definition=compile_state_machine(job),
        trigger=compile_trigger(job),
        policy=execution_policy(job),
        trust_policy=execution_trust_policy(job),
        tags=resource_tags(job.project, job.env, job.name) | job.tags,
    )


def compile_registry(registry: Registry, env: str | None = None) -> list[CompiledJob]:
    """Compile every job of every target (or only `env`), ordered by environment then name."""
    targets = [env] if env is not None else list(registry.targets)
    return [
        compile_job(job)
        for target in targets
        for job in sorted(registry.jobs_for(target), key=lambda j: j.name)
    ]


def compile_files(registry: Registry, env: str | None = None) -> dict[str, str]:
    """`statemachines/` file name -> content, for every target (or only `env`).

    Streams: each definition is rendered and dropped before the next is compiled, so memory
    and time stay linear in the number of jobs (holding every compiled dict alive made
    10,000 jobs 15x slower than 1,000 instead of 10x).
    """
    targets = [env] if env is not None else list(registry.targets)
    return {
        asl_file_name(job.name, job.env): render_json(compile_state_machine(job))
        for target in targets
        for job in sorted(registry.jobs_for(target), key=lambda j: j.name)
    }
