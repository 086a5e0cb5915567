"""What a local (moto) account needs before jobs can be deployed to it.

Deploy reads the ECS task definition each job runs (for the roles its execution role may
pass), as it would in AWS. Locally nothing registers them, so this does; `seed_jobs` also
creates the clusters, subnets and security groups a registry names, so its jobs run on
moto unchanged. Invariant: the clients are the caller's (only chalicelib.aws creates
clients).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from jobctl.registry.models import ResolvedJob

LOCAL_ACCOUNT = "123456789012"


def register_task_definition(
    ecs: Any,
    *,
    family: str = "app-batch",
    container: str = "app",
    account: str = LOCAL_ACCOUNT,
) -> None:
    """A minimal Fargate task definition with task and execution roles, logging to awslogs."""
    _register(ecs, family, [container], account)


def seed_jobs(ecs: Any, ec2: Any, jobs: Iterable[ResolvedJob], account: str) -> list[str]:
    """What the jobs reference, created in a local account: clusters, task definitions,
    subnets and security groups (with the IDs jobs.yaml names). Returns what it created.

    Task definitions that already exist are kept (a test or the user may have registered
    richer ones); a new family gets one container per container name its jobs use, logging
    to awslogs like `register_task_definition`.
    """
    created: list[str] = []
    clusters = sorted({_last(job.cluster) for job in jobs})
    existing = {_last(arn) for arn in ecs.list_clusters().get("clusterArns", [])}
    for cluster in clusters:
        if cluster not in existing:
            ecs.create_cluster(clusterName=cluster)
            created.append(f"cluster {cluster}")
    families: dict[str, tuple[set[str], int]] = {}
    for job in jobs:
        family, revision = _family(job.task_definition)
        containers, highest = families.get(family, (set(), 1))
        families[family] = (containers | {job.container}, max(highest, revision))
    for family, (containers, revision) in sorted(families.items()):
        have = ecs.list_task_definitions(familyPrefix=family).get("taskDefinitionArns", [])
        have = [arn for arn in have if _family(arn)[0] == family]
        for _ in range(len(have), revision):
            _register(ecs, family, sorted(containers), account)
            created.append(f"task definition {family}")
    subnets = sorted({s for job in jobs if job.network for s in job.network.subnets})
    groups = sorted({g for job in jobs if job.network for g in job.network.security_groups})
    if subnets or groups:
        created.extend(_network(ec2, subnets, groups))
    return created


def _last(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1]


def _family(task_definition: str) -> tuple[str, int]:
    """`family`, `family:rev` or an ARN -> (family, the revision it needs to exist)."""
    name = _last(task_definition)
    family, _, revision = name.partition(":")
    return family, int(revision) if revision.isdigit() else 1


def _register(ecs: Any, family: str, containers: list[str], account: str) -> None:
    """One Fargate task definition, each container logging to awslogs under /ecs/<family>."""
    region = ecs.meta.region_name
    ecs.register_task_definition(
        family=family,
        taskRoleArn=f"arn:aws:iam::{account}:role/{family}-task",
        executionRoleArn=f"arn:aws:iam::{account}:role/{family}-execution",
        containerDefinitions=[
            {
                "name": container,
                "image": f"{family}:latest",
                "essential": True,
                "memory": 512,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/{family}",
                        "awslogs-stream-prefix": family,
                        "awslogs-region": region,
                    },
                },
            }
            for container in containers
        ],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )


def _network(ec2: Any, subnets: list[str], groups: list[str]) -> list[str]:
    """Subnets and security groups with exactly these IDs, in one local VPC.

    EC2 chooses IDs itself; moto draws them from module-level generators, which are replaced
    for the duration of each create call. This needs moto in this process (`jobctl local`
    runs its server in-process); the calls still go through the client.
    """
    import importlib

    moto_subnets = importlib.import_module("moto.ec2.models.subnets")
    moto_groups = importlib.import_module("moto.ec2.models.security_groups")

    created: list[str] = []
    known_subnets = {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    known_groups = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    missing_subnets = [s for s in subnets if s not in known_subnets]
    missing_groups = [g for g in groups if g not in known_groups]
    if not missing_subnets and not missing_groups:
        return created
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    for index, subnet in enumerate(missing_subnets):
        with _next_id(moto_subnets, "random_subnet_id", subnet):
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{index}.0/24")
        created.append(f"subnet {subnet}")
    for group in missing_groups:
        with _next_id(moto_groups, "random_security_group_id", group):
            ec2.create_security_group(GroupName=group, Description="jobctl local", VpcId=vpc)
        created.append(f"security group {group}")
    return created


_ID_LOCK = threading.Lock()


@contextlib.contextmanager
def _next_id(module: Any, generator: str, value: str) -> Iterator[None]:
    """moto's `module.generator()` returns `value` inside the block (one caller at a time)."""
    with _ID_LOCK:
        original = getattr(module, generator)
        setattr(module, generator, lambda: value)
        try:
            yield
        finally:
            setattr(module, generator, original)
