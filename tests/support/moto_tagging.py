"""Fix 14 of jobctl/local/moto (the tagging API lists EventBridge rules) on its own.

The deploy tests and `benchmarks/deploy_bench.py` run on plain moto (no `install()`: they
execute no state machine) but count calls as AWS would get them, so they apply just this
fix for the duration of `rules_in_tagging_api()`. `jobctl local` has it with every other fix.
Invariant: on exit the backend's method is the very one it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jobctl.local.moto.hook import Patches
from jobctl.local.moto.tagging import PATCHES


@contextmanager
def rules_in_tagging_api() -> Iterator[None]:
    patches = Patches()
    patches.apply(PATCHES)
    try:
        yield
    finally:
        patches.undo()
