"""The one hook through which every moto fix is installed, and undone.

A fix is a set of `Patch`es: one attribute of a moto module or class replaced by jobctl's
value. Fixes to a class moto looks up by name (the Step Functions service factory) are
subclasses swapped in where moto looks them up; fixes to a base class moto never looks up
(`Timeout`, `BaseResponse`) are subclasses whose own methods `methods_onto` copies onto
moto's class. Either way `Override` names the moto class whose methods the subclass
replaces, so the canary (tests/functional/test_moto_runtime.py) can compare signatures.

Invariants: `apply` records what each attribute was, in the owner's own namespace (absent
included), before it sets it; `undo` restores exactly that, in reverse order, so after it
every patched attribute is the very object it was (identity, not equality). A fix class
defines only overrides: helpers are module functions, so a method moto renames is an
override the canary notices rather than a helper nobody calls. Not thread-safe: callers
(the package's `install`) hold their own lock.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final


class _Missing:
    """The marker for "the owner's namespace had no such attribute"."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


@dataclass(frozen=True)
class Patch:
    """Set `owner.name` (a moto module or class) to `value` while installed."""

    owner: Any
    name: str
    value: Any


@dataclass(frozen=True)
class Override:
    """`fix` is a subclass of `moto_class` whose own methods replace moto's."""

    fix: type
    moto_class: type

    def methods(self) -> dict[str, Callable[..., Any]]:
        return own_methods(self.fix, self.moto_class)


def own_methods(fix: type, moto_class: type) -> dict[str, Callable[..., Any]]:
    """The functions `fix` (and any mixin between it and `moto_class`) defines itself."""
    inherited = set(moto_class.__mro__)
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(fix.__mro__):  # nearest definition wins, as in attribute lookup
        if klass in inherited:
            continue
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and not name.startswith("__"):
                found[name] = value
    return found


def methods_onto(moto_class: type, fix: type) -> tuple[Patch, ...]:
    """Patches copying `fix`'s own methods onto `moto_class` (and all its subclasses).

    The copied functions run with `self` an instance of moto's class, not of `fix`, so they
    must not call `super()`: one that wraps moto's method calls the original it captured.
    """
    return tuple(Patch(moto_class, name, f) for name, f in own_methods(fix, moto_class).items())


class Patches:
    """The patches in force and what each replaced, for an exact undo."""

    def __init__(self) -> None:
        self._applied: list[tuple[Patch, Any]] = []

    @property
    def applied(self) -> bool:
        return bool(self._applied)

    def apply(self, patches: Iterable[Patch]) -> None:
        for patch in patches:
            before = vars(patch.owner).get(patch.name, MISSING)
            self._applied.append((patch, before))
            setattr(patch.owner, patch.name, patch.value)

    def undo(self) -> None:
        while self._applied:
            patch, before = self._applied.pop()
            if before is MISSING:
                delattr(patch.owner, patch.name)
            else:
                setattr(patch.owner, patch.name, before)

    def original(self, owner: Any, name: str) -> Any:
        """What moto's `owner.name` is without the fixes (the recorded value, or the current
        one when nothing patched it); an attribute the owner inherits is looked up on its
        bases. MISSING when moto has no such attribute at all."""
        for patch, before in self._applied:
            if patch.owner is owner and patch.name == name:
                return before if before is not MISSING else _inherited(owner, name)
        return getattr(owner, name, MISSING)


def _inherited(owner: Any, name: str) -> Any:
    if not isinstance(owner, type):
        return MISSING
    for base in owner.__mro__[1:]:
        if name in vars(base):
            return vars(base)[name]
    return MISSING
