"""User-declared patterns (a manual-run parameter's `pattern`): compiled and matched with RE2.

Owns the one engine both `jobctl validate` (the pattern itself, and a default against it) and
the API Lambda (every manual-run value) use. Python's backtracking `re` is exponential on
patterns like `(a+)+b`: a 30-character value pinned the process for minutes (issue 12,
point 11). Invariants: matching takes time linear in the value (RE2, no backtracking); a value
matches only if the WHOLE value matches; `\\d`, `\\w`, `\\s` and `\\b` are ASCII (RE2's
semantics: full-width or Arabic-Indic digits are not `\\d`); a pattern RE2 cannot compile
(backreferences, lookaround, repetition over 1000) is refused with RE2's reason, never
evaluated by another engine.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]

# The longest pattern jobctl accepts; RE2 also refuses patterns whose program is too large.
MAX_PATTERN = 1024


class PatternError(ValueError):
    """The pattern is not one RE2 accepts; the message says why."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refused pattern to stderr
    return options


_OPTIONS = _options()


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """`pattern` compiled by RE2, or PatternError naming what RE2 refused."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"a pattern allows at most {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        # RE2 says "invalid perl operator: (?=" or "invalid escape sequence: \1": name why.
        hint = (
            " (RE2 has no lookaround or backreferences)"
            if "perl operator" in reason or "escape sequence" in reason
            else ""
        )
        raise PatternError(f"not a valid RE2 pattern: {reason}{hint}") from None


def fullmatch(pattern: str, value: str) -> bool:
    """Whether all of `value` matches `pattern` (PatternError if the pattern is invalid)."""
    return compile_pattern(pattern).fullmatch(value) is not None
