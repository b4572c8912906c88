"""Declarative checks of configuration fields: the type comes from each field's annotation, the allowed values
from a table beside its dataclass (``ALLOWED``), and both are enforced whenever a config is built.

Why declarative: a value of the wrong type or range (``model.dim=0``, ``train.batch_size=0``, ``eval.csls_k=-5``)
otherwise ends in a traceback deep inside training or, worse, is silently accepted. Reading the type from the
annotation means a new field is type-checked without anyone remembering to; a test requires every new number or
string field to have an ``ALLOWED`` entry, so its range is decided too.

Rules (a demanding user's reading of JSON / TOML values):

- ``bool`` takes only true / false (a bool is not an int, and 1 is not true);
- ``int`` takes only integers (``100.0`` is refused rather than truncated);
- ``float`` takes any finite integer or float and stores it as a float (NaN and infinity are refused);
- ``X | None`` also takes null;
- ``tuple[X, ...]`` takes a list (or tuple) whose items are checked as ``X`` and the allowed values; a bare string
  is refused, as it would be read character by character;
- ``dict`` takes any table; its contents are checked by whoever reads them (model and loader options);
- a dataclass-typed field takes an instance of that dataclass.

An error is one line naming the field, the value (as JSON) and what is allowed:
``model.dim=0: must be an integer >= 1``.
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

_TYPE_WORDS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                                dict: "a table"}
_PLURAL_WORDS: dict[type, str] = {bool: "true / false values", int: "integers", float: "numbers", str: "strings"}


@dataclass(frozen=True)
class Allowed:
    """The values a field accepts beyond its type: an interval for numbers, a choice set for strings.

    For a ``tuple[X, ...]`` field the interval / choices apply to every item, and ``nonempty`` / ``distinct``
    to the list. ``hint`` is appended to the error message (e.g. what null means for that field).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    nonempty: bool = False
    distinct: bool = False
    hint: str = ""

    def admits(self, value: Any) -> bool:
        if self.choices and value not in self.choices:
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        """The constraint in words: ``one of "a", "b"``, ``>= 1``, ``in [0, 1)``; empty when there is none."""
        if self.choices:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{_number(self.low)}, "
                    f"{_number(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return ""


ANY = Allowed()  # any value of the field's type (free text such as a path or a device name)


def at_least(low: float, hint: str = "") -> Allowed:
    return Allowed(low=low, hint=hint)


def above(low: float, hint: str = "") -> Allowed:
    return Allowed(low=low, low_open=True, hint=hint)


def within(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Allowed:
    return Allowed(low=low, high=high, low_open=low_open, high_open=high_open)


def one_of(*choices: str, nonempty: bool = False, distinct: bool = False) -> Allowed:
    return Allowed(choices=tuple(choices), nonempty=nonempty, distinct=distinct)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def show(value: Any) -> str:
    """A value as the user wrote it in JSON / ``--set`` (null, true, "text", [1, 2]); repr if not JSON."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class FieldType:
    """A field's annotation, reduced to what the checks need."""

    base: type  # bool, int, float, str, dict, tuple or a dataclass
    optional: bool = False  # ``X | None``
    item: type | None = None  # the X of ``tuple[X, ...]``


def _field_type(annotation: Any) -> FieldType:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(rest) == len(args):
            raise TypeError(f"unsupported config annotation {annotation!r}: only X | None unions are checked")
        inner = _field_type(rest[0])
        return FieldType(inner.base, optional=True, item=inner.item)
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis or args[0] not in _PLURAL_WORDS:
            raise TypeError(f"unsupported config annotation {annotation!r}: use tuple[X, ...] of a plain type")
        return FieldType(tuple, item=args[0])
    if origin is dict or annotation is dict:
        return FieldType(dict)
    if annotation in _TYPE_WORDS or is_dataclass(annotation):
        return FieldType(annotation)
    raise TypeError(f"unsupported config annotation {annotation!r}")


@functools.cache
def field_types(cls: type) -> dict[str, FieldType]:
    """``{field name: FieldType}`` of a config dataclass (its string annotations resolved once)."""
    hints = typing.get_type_hints(cls)
    return {f.name: _field_type(hints[f.name]) for f in fields(cls)}


def _scalar_ok(base: type, value: Any) -> bool:
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, base)


def expected(ftype: FieldType, allowed: Allowed) -> str:
    """What a field accepts, in words: ``an integer >= 1, or null``."""
    constraint = allowed.describe()
    if ftype.base is tuple:
        assert ftype.item is not None
        if allowed.choices:
            text = "a list of items from " + ", ".join(json.dumps(c) for c in allowed.choices)
        else:
            text = f"a list of {_PLURAL_WORDS[ftype.item]}{' ' + constraint if constraint else ''}"
        extras = [w for w, on in (("at least one", allowed.nonempty), ("no repeats", allowed.distinct)) if on]
        if extras:
            text += f" ({', '.join(extras)})"
    elif is_dataclass(ftype.base):
        text = f"a table of {ftype.base.__name__} options"
    elif allowed.choices:
        text = constraint
    else:
        text = _TYPE_WORDS[ftype.base] + (f" {constraint}" if constraint else "")
    return text + (", or null" if ftype.optional else "")


def check_value(label: str, ftype: FieldType, allowed: Allowed, value: Any) -> Any:
    """``value`` checked against the field's type and allowed values, normalised (int -> float for a float
    field, list -> tuple for a tuple field); ``ValueError("label=value: must be ...")`` otherwise."""
    if value is None and ftype.optional:
        return None
    if ftype.base is tuple:
        ok = isinstance(value, (list, tuple)) and all(
            _scalar_ok(ftype.item, x) and allowed.admits(x) for x in value)  # type: ignore[arg-type]
        ok = ok and not (allowed.nonempty and not value) and not (allowed.distinct and len(set(value)) < len(value))
        if ok:
            return tuple(float(x) if ftype.item is float else x for x in value)
    elif _scalar_ok(ftype.base, value) and (ftype.base in (bool, dict) or allowed.admits(value)):
        return float(value) if ftype.base is float else value
    hint = f" ({allowed.hint})" if allowed.hint else ""
    raise ValueError(f"{label}={show(value)}: must be {expected(ftype, allowed)}{hint}")


def check_field(cls: type, section: str, name: str, value: Any) -> Any:
    """One field of the config class ``cls`` checked as when a config is built: for a value that overrides a
    built config without rebuilding it (``gaussea evaluate --csls-k`` on a finished run)."""
    return check_value(f"{section}.{name}", field_types(cls)[name], cls.ALLOWED.get(name, ANY), value)


def check_fields(obj: Any, section: str, allowed: Mapping[str, Allowed]) -> None:
    """Check every field of the dataclass instance ``obj`` in place (values normalised as by :func:`check_value`).

    ``section`` prefixes the field names in messages (``model`` -> ``model.dim``); empty for top-level keys.
    Frozen dataclasses (a model's params) are normalised too: ``object.__setattr__`` is how their own
    ``__post_init__`` may set a field.
    """
    for name, ftype in field_types(type(obj)).items():
        label = f"{section}.{name}" if section else name
        object.__setattr__(obj, name, check_value(label, ftype, allowed.get(name, ANY), getattr(obj, name)))
