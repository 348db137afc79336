"""Typed accessors for event fields that fail with `InvalidEvent` naming the JSON path.

Each accessor takes the parent object, the key, and the parent's path (``""`` at the top,
``detail.findings[0]`` deeper). The field's path is only built when something is wrong, so
reading a valid event costs a dict lookup and an isinstance check per field: normalising
must stay within a small multiple of ``json.loads`` (see ``bench/``).

JSON ``null`` counts as absent for optional fields and as missing for required ones.
Each accessor tests first for what a well-formed event most often holds there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from remedy.errors import InvalidEvent
from remedy.regions import A_REGION as _A_REGION

# The normalisers read these as fields' own (f.is_region, f.partition_of).
from remedy.regions import is_region as is_region
from remedy.regions import partition_of as partition_of

_A_STRING = "a string"
_AN_OBJECT = "an object"
_AN_ARRAY = "an array"
_AN_INTEGER = "an integer"
_AN_ACCOUNT = "a 12-digit AWS account id"


def path_of(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if value == "" else "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: str, limit: int = 60) -> str:
    """A string value for a one-line message: quoted, escaped, and cut to `limit`."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def missing(parent: str, key: str, what: str) -> InvalidEvent:
    return InvalidEvent(f"missing, expected {what}", path_of(parent, key))


def wrong_type(field: str, what: str, value: object) -> InvalidEvent:
    return InvalidEvent(f"expected {what}, got {json_type(value)}", field)


def bad_value(field: str, what: str, value: str) -> InvalidEvent:
    return InvalidEvent(f"expected {what}, got {shown(value)}", field)


def req_obj(parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key)
    if isinstance(value, dict):
        return value
    if value is None:
        raise missing(path, key, _AN_OBJECT)
    raise wrong_type(path_of(path, key), _AN_OBJECT, value)


def opt_obj(parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = parent.get(key)
    if isinstance(value, dict) or value is None:
        return value
    raise wrong_type(path_of(path, key), _AN_OBJECT, value)


def req_list(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if isinstance(value, list):
        return value
    if value is None:
        raise missing(path, key, _AN_ARRAY)
    raise wrong_type(path_of(path, key), _AN_ARRAY, value)


def opt_objects(
    parent: Mapping[str, Any], key: str, path: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each object of an optional array of objects, with its path (``path.key[i]``);
    anything but an object in it is an error naming that element."""
    items = opt_list(parent, key, path)
    if not items:
        return
    base = path_of(path, key)
    for i, item in enumerate(items):
        item_path = f"{base}[{i}]"
        if not isinstance(item, dict):
            raise wrong_type(item_path, _AN_OBJECT, item)
        yield item_path, item


def opt_list(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    """An optional array; absent or null reads as empty."""
    value = parent.get(key)
    if isinstance(value, list):
        return value
    if value is None:
        return []
    raise wrong_type(path_of(path, key), _AN_ARRAY, value)


def req_str(parent: Mapping[str, Any], key: str, path: str) -> str:
    """A required, non-empty string."""
    value = parent.get(key)
    if isinstance(value, str) and value:
        return value
    if value is None:
        raise missing(path, key, "a non-empty string")
    raise wrong_type(path_of(path, key), "a non-empty string", value)


def opt_str(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    """An optional string, kept as given (an empty string stays empty)."""
    value = parent.get(key)
    if isinstance(value, str) or value is None:
        return value
    raise wrong_type(path_of(path, key), _A_STRING, value)


def opt_int(parent: Mapping[str, Any], key: str, path: str) -> int | None:
    value = parent.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise wrong_type(path_of(path, key), _AN_INTEGER, value)


def req_int(parent: Mapping[str, Any], key: str, path: str) -> int:
    value = parent.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None:
        raise missing(path, key, _AN_INTEGER)
    raise wrong_type(path_of(path, key), _AN_INTEGER, value)


def opt_bool(parent: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = parent.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong_type(path_of(path, key), "a boolean", value)


def account_id(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    # isascii first: isdigit alone accepts other scripts' digits.
    if isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit():
        return value
    raise _refused(value, path, key, _AN_ACCOUNT)


def _refused(value: object, path: str, key: str, what: str) -> InvalidEvent:
    """Why a string field in a set format was refused: missing, not a string, or malformed."""
    if value is None:
        return missing(path, key, what)
    if isinstance(value, str):
        return bad_value(path_of(path, key), what, value)
    return wrong_type(path_of(path, key), what, value)


def opt_account_id(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if parent.get(key) is None else account_id(parent, key, path)


def region(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if isinstance(value, str) and is_region(value):
        return value
    raise _refused(value, path, key, _A_REGION)


def opt_region(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None or is_region(value):
        return value
    raise _refused(value, path, key, _A_REGION)
