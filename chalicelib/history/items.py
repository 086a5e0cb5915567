"""DynamoDB's typed attribute values <-> plain Python values, for the history table's items.

boto3's own `TypeSerializer`/`TypeDeserializer` do the conversion (every DynamoDB type,
nested lists and maps included); this module adds the one decision they leave to us:
what a number becomes. The deserializer returns `Decimal`; here an integral number becomes
an `int` (exact at any size: `exit_code: 3` is 3, and 2**60 stays 2**60, which a float
cannot hold) and any other number a `float` (the run records hold no fractional numbers
today; JSON responses want floats, not Decimals). Going the other way, a `float` is written
as the number its `repr` shows, since the serializer refuses floats.

Invariant: `plain(item(values)) == values` for the values the history stores (strings,
ints, booleans, None, and lists/maps of them); the run records, META items and state
documents callers get are plain dicts of such values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def number(value: Decimal) -> int | float:
    """A DynamoDB number as Python: `int` when integral (exactly), `float` otherwise."""
    return int(value) if value == value.to_integral_value() else float(value)


def _native(value: Any) -> Any:
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dict):
        return {key: _native(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_native(inner) for inner in value]
    if isinstance(value, set):
        return {_native(inner) for inner in value}
    return value


def _storable(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _storable(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(inner) for inner in value]
    return value


def value(attribute: dict[str, Any]) -> Any:
    """One typed attribute value (`{"N": "3"}`) as Python (3)."""
    return _native(_DESERIALIZER.deserialize(attribute))


def attribute(data: Any) -> dict[str, Any]:
    """A Python value as a typed attribute value; TypeError for what DynamoDB cannot hold."""
    return _SERIALIZER.serialize(_storable(data))  # type: ignore[no-any-return]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB returns it -> {attribute name: Python value}."""
    return {name: value(typed) for name, typed in item.items()}


def item(values: dict[str, Any]) -> dict[str, Any]:
    """{attribute name: Python value} -> an item (or attribute values) as DynamoDB takes it."""
    return {name: attribute(inner) for name, inner in values.items()}
