"""Task sizes Fargate accepts (task-level CPU units and memory MiB, Linux).

Source: the ECS developer guide's "Task CPU and memory" table. Invariant: `memory_choices`
lists exactly the memory values Fargate accepts for a CPU value, ascending.
"""

from __future__ import annotations

# cpu units -> (min MiB, max MiB, step MiB)
_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 0),  # 512, 1024, 2048 only
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}

CPU_CHOICES: tuple[int, ...] = tuple(_SIZES)


def memory_choices(cpu: int) -> tuple[int, ...]:
    """Memory values (MiB) Fargate accepts with `cpu` units; empty for an unknown cpu."""
    if cpu not in _SIZES:
        return ()
    low, high, step = _SIZES[cpu]
    if step == 0:
        return (512, 1024, 2048)
    return tuple(range(low, high + 1, step))


def describe_choices(cpu: int) -> str:
    """A short human summary of valid memory for `cpu`, e.g. '1024-4096 in steps of 1024'."""
    low, high, step = _SIZES[cpu]
    if step == 0:
        return "512, 1024 or 2048"
    return f"{low}-{high} in steps of {step}"
