"""Text that reaches another person's terminal or screen: what it may not contain.

A reason, a parameter value or a Slack name typed by one operator is printed later by
another (`jobctl show`, `jobctl runs`, Slack messages). Characters a terminal interprets
instead of showing would let the first rewrite what the second sees: ESC starts CSI/OSC
sequences (clear the screen, set the title, hyperlinks, on some terminals write files),
the C1 controls U+0080-U+009F are their 8-bit forms, and the bidirectional embeddings,
overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder the text around them
("Trojan Source"). Line and paragraph separators fake extra lines.

Invariant: `UNSAFE` is the one definition of those characters for the runtime (request
models refuse them; the CLI additionally shows every non-printable character escaped).
Tab is allowed: it moves the cursor and nothing more. Pure Python, no jobctl import.
"""

from __future__ import annotations

import re
from typing import Final

UNSAFE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def unsafe_character(text: str) -> str | None:
    """The first character of `text` a terminal would interpret, as `U+001B`; None if none."""
    found = UNSAFE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"
