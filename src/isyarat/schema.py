"""Typed records from YAML or JSON: every value checked against its dataclass field's type before the
dataclass is built, so a wrong value is one line naming the key, the value and what it must be."""
from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

from isyarat.errors import IsyaratError

T = TypeVar("T")


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(hint: Any) -> str:
    """The type in words, as a recipe writer reads it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [describe(a) for a in args if a is not type(None)]
        return " or ".join(inner) + (" (or empty)" if type(None) in args else "")
    if hint is bool:
        return "true or false"
    if hint is int:
        return "a whole number"
    if hint is float:
        return "a number"
    if hint is str:
        return "text"
    if hint is list or origin is list:
        return "a list" + (f" of {describe(args[0])}" if args else "")
    if hint is dict or origin is dict:
        return "a mapping (key: value)"
    return getattr(hint, "__name__", str(hint))


def check_value(value: Any, hint: Any, key: str) -> Any:
    """`value` if it fits `hint` (ints accepted as floats, whole floats as ints); else IsyaratError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return check_value(value, option, key)
            except IsyaratError as err:
                errors.append(err)
        raise errors[0]
    fits = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: not isinstance(v, bool) and (isinstance(v, int) or isinstance(v, float) and v.is_integer()),
        float: lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v),
        str: lambda v: isinstance(v, str),
    }
    if hint in fits:
        if not fits[hint](value):
            raise IsyaratError(f"{key} is {shown(value)}; it must be {describe(hint)}")
        return int(value) if hint is int else float(value) if hint is float else value
    if hint is list or origin is list:
        if not isinstance(value, list):
            raise IsyaratError(f"{key} is {shown(value)}; it must be {describe(hint)}")
        return [check_value(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)] if args else value
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise IsyaratError(f"{key} is {shown(value)}; it must be {describe(hint)}")
        return value
    return value


def build(cls: type[T], raw: Any, key: str, skip: tuple[str, ...] = ()) -> T:
    """cls(**raw) with every value type-checked; `key` names the section in messages (e.g. "train").
    Fields named in `skip` are passed through unchecked (the caller checks them)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise IsyaratError(f"{key} is {shown(raw)}; it must be a mapping of settings, e.g. "
                           f"{{{', '.join(f.name for f in fields(cls)[:2])}: ...}}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise IsyaratError(f"{key}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    values = {name: value if name in skip or is_dataclass(hints[name]) else check_value(value, hints[name], f"{key}.{name}")
              for name, value in raw.items()}
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
               and f.name not in values]
    if missing:
        raise IsyaratError(f"{key}: needs {', '.join(missing)}")
    try:
        return cls(**values)
    except TypeError as err:
        raise IsyaratError(f"{key}: {err}") from None
