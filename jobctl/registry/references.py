"""References in jobs.yaml: the grammar, and which settings may hold which kinds.

Owns the syntax of a value that names a fact kept outside jobs.yaml, resolved at plan time
(`jobctl.deploy.references`), never by validate or build:

    ${env:NAME}                      an environment variable (required)
    ${env:NAME:-default}             ... or `default` when it is unset or empty
    ${tfstate:output.NAME[.path]}    an output of the environment's Terraform state
    ${tfstate:ADDRESS.attr[.path]}   a resource attribute (`aws_subnet.private[0].id`,
                                     `module.vpc.aws_subnet.this["a"].id`, `data.x.y.z`)
    ${aws:subnet:KEY=VALUE}          the one subnet tagged KEY=VALUE
    ${aws:security-group:KEY=VALUE}  the one security group tagged KEY=VALUE
    ${aws:cluster:NAME}              the ACTIVE ECS cluster NAME
    ${aws:task-definition:FAMILY}    FAMILY's latest ACTIVE revision (`FAMILY:REV`)

Invariants: only a whole value is a reference, and only in the settings of `ACCEPTS` (AWS
facts: cluster, task definition, network subnets and security groups, an environment's
account); everywhere else (commands, environment values, tags...) the same text is a
literal and reaches AWS as written. A value starting `${env:`, `${tfstate:` or `${aws:`
in such a setting must parse, or validate refuses it; a value starting `$${` is the
literal text without its first `$`. Pure: no AWS, no environment, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Scheme = Literal["env", "tfstate", "aws"]
SCHEMES: tuple[Scheme, ...] = ("env", "tfstate", "aws")
AWS_KINDS = ("subnet", "security-group", "cluster", "task-definition")
# setting -> the reference kinds it accepts (`env`, `tfstate`, `aws:<kind>`).
ACCEPTS: dict[str, tuple[str, ...]] = {
    "cluster": ("env", "tfstate", "aws:cluster"),
    "task_definition": ("env", "tfstate", "aws:task-definition"),
    "subnets": ("env", "tfstate", "aws:subnet"),
    "security_groups": ("env", "tfstate", "aws:security-group"),
    "account": ("env", "tfstate"),
}
# Settings where one reference may stand for several values (a list output, `a,b`).
LISTS = frozenset({"subnets", "security_groups"})

_PREFIX = re.compile(r"\$\{(env|tfstate|aws):")
_ENV = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?")
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_INDEX = r"\[(?:[0-9]+|\"[^\"\]]*\")\]"
_STEP = re.compile(rf"(?P<name>{_NAME})(?P<index>(?:{_INDEX})*)")
_ONE_INDEX = re.compile(_INDEX)
_TAG = re.compile(r"(?P<key>[^=}]{1,128})=(?P<value>[^}]{0,256})")
_ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


class ReferenceSyntaxError(ValueError):
    """A value shaped like a reference that does not parse; the message says how to fix it."""


Key = str | int  # a step into a value: a mapping key or a list index


@dataclass(frozen=True)
class Reference:
    """One parsed reference. `text` is exactly what the user wrote."""

    text: str
    scheme: Scheme
    # env: the variable and its default; aws: the kind and its selector (a name, or a tag).
    name: str = ""
    default: str | None = None
    kind: str = ""
    tag: tuple[str, str] | None = None
    # tfstate: an output (`output`), or a resource (`module`, `mode`, `type`, `name`,
    # `index`), then the path inside its value or attributes.
    output: str | None = None
    module: str = ""
    mode: str = "managed"
    type: str = ""
    index: Key | None = None
    path: tuple[Key, ...] = ()

    @property
    def category(self) -> str:
        """What `ACCEPTS` lists: `env`, `tfstate` or `aws:<kind>`."""
        return f"aws:{self.kind}" if self.scheme == "aws" else self.scheme


def looks_like_reference(value: str) -> bool:
    return _PREFIX.match(value) is not None


def is_escaped(value: str) -> bool:
    """`$${env:X}` is the literal text `${env:X}`."""
    return value.startswith("$") and looks_like_reference(value[1:])


def parse_reference(value: str) -> Reference | None:
    """The reference `value` is, None if it is not one (a literal). Raises
    `ReferenceSyntaxError` for a value that starts like a reference but does not parse."""
    found = _PREFIX.match(value)
    if found is None:
        return None
    scheme: Scheme = found.group(1)  # type: ignore[assignment]
    if not value.endswith("}"):
        raise ReferenceSyntaxError(
            f"'{value}' starts like a reference but does not end with '}}': a reference is "
            "the whole value (write '$$' for a literal '$')"
        )
    body = value[found.end() : -1]
    if scheme == "env":
        return _env(value, body)
    if scheme == "tfstate":
        return _tfstate(value, body)
    return _aws(value, body)


def _env(text: str, body: str) -> Reference:
    found = _ENV.fullmatch(body)
    if found is None:
        raise ReferenceSyntaxError(
            f"'{text}' is not an environment reference: write ${{env:NAME}} or "
            "${env:NAME:-default} (NAME: letters, digits, '_', not starting with a digit)"
        )
    return Reference(text, "env", name=found["name"], default=found["default"])


def _aws(text: str, body: str) -> Reference:
    kind, _, selector = body.partition(":")
    if kind not in AWS_KINDS:
        raise ReferenceSyntaxError(
            f"'{text}': unknown AWS lookup '{kind}'; one of: {', '.join(AWS_KINDS)}"
        )
    if kind in ("subnet", "security-group"):
        tag = _TAG.fullmatch(selector)
        if tag is None or not tag["key"].strip():
            raise ReferenceSyntaxError(
                f"'{text}': a {kind} is looked up by tag: write ${{aws:{kind}:KEY=VALUE}}, "
                f"e.g. ${{aws:{kind}:Name=private-a}}"
            )
        return Reference(text, "aws", kind=kind, tag=(tag["key"], tag["value"]))
    if not _ECS_NAME.fullmatch(selector):
        what = "cluster name" if kind == "cluster" else "task definition family"
        raise ReferenceSyntaxError(
            f"'{text}': expected ${{aws:{kind}:NAME}} with a {what} (letters, digits, '-', '_')"
        )
    return Reference(text, "aws", kind=kind, name=selector)


def _tfstate(text: str, body: str) -> Reference:
    steps = _steps(text, body)
    hint = (
        f"'{text}': expected ${{tfstate:output.NAME}} or a resource attribute such as "
        "${tfstate:aws_subnet.private[0].id}"
    )
    if steps[0][0] == "output":
        if len(steps) < 2 or steps[0][1]:
            raise ReferenceSyntaxError(hint)
        name, index = steps[1]
        return Reference(text, "tfstate", output=name, path=(*index, *_path(steps[2:])))
    module = []
    while steps and steps[0][0] == "module" and len(steps) > 1 and not steps[0][1]:
        name, index = steps[1]
        module.append(f"module.{name}{''.join(_render_index(i) for i in index)}")
        steps = steps[2:]
    mode = "managed"
    if steps and steps[0] == ("data", ()):
        mode, steps = "data", steps[1:]
    # TYPE, NAME[index], then at least one attribute.
    if len(steps) < 3 or steps[0][1] or len(steps[1][1]) > 1:
        raise ReferenceSyntaxError(hint)
    resource_index = steps[1][1][0] if steps[1][1] else None
    return Reference(
        text,
        "tfstate",
        module=".".join(module),
        mode=mode,
        type=steps[0][0],
        name=steps[1][0],
        index=resource_index,
        path=_path(steps[2:]),
    )


def _steps(text: str, body: str) -> list[tuple[str, tuple[Key, ...]]]:
    steps: list[tuple[str, tuple[Key, ...]]] = []
    for part in _split(body):
        found = _STEP.fullmatch(part)
        if found is None:
            raise ReferenceSyntaxError(
                f"'{text}': '{part}' is not a name with optional [N] or [\"key\"] indexes"
            )
        indexes = tuple(_index(i.group()) for i in _ONE_INDEX.finditer(found["index"]))
        steps.append((found["name"], indexes))
    return steps


def _split(body: str) -> list[str]:
    """`a.b["x.y"][0].c` -> ['a', 'b["x.y"][0]', 'c']: dots inside quotes do not split."""
    parts, current, quoted = [], "", False
    for char in body:
        if char == '"':
            quoted = not quoted
        if char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _index(text: str) -> Key:
    inner = text[1:-1]
    return inner[1:-1] if inner.startswith('"') else int(inner)


def _render_index(index: Key) -> str:
    return f'["{index}"]' if isinstance(index, str) else f"[{index}]"


def _path(steps: list[tuple[str, tuple[Key, ...]]]) -> tuple[Key, ...]:
    return tuple(key for name, index in steps for key in (name, *index))


def check_value(setting: str, value: str) -> str:
    """A setting's value, checked: a reference must parse and be one `setting` accepts.

    Returns `value` unchanged (the model keeps the reference text; plan resolves it).
    Raises `ReferenceSyntaxError` with a message for users.
    """
    if is_escaped(value):
        return value
    reference = parse_reference(value)
    if reference is None:
        return value
    accepted = ACCEPTS[setting]
    if reference.category not in accepted:
        shown = ", ".join("${" + kind + ":...}" for kind in accepted)
        raise ReferenceSyntaxError(f"'{value}' cannot be used for {setting}: it accepts {shown}")
    return value


def unescape(value: str) -> str:
    """The literal a non-reference value stands for (`$${...}` -> `${...}`)."""
    return value[1:] if is_escaped(value) else value
