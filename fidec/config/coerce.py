"""A config field's value from what the user typed: one reading for ``fidec train --FLAG``, ``--set KEY=VALUE``
and the values of a suite file (or of :func:`fidec.config.resolve`'s keyword overrides).

Text (a flag or ``--set``) is read by the field's type: integers are whole numbers, also written in scientific
notation when the number is exactly integral (``2e3`` is 2000; ``2.5`` and ``2.5e0`` are refused), booleans
``true``/``false``/``1``/``0``, lists comma-separated (``256,256``). A typed value (TOML, JSON, Python) gets
the same integer rule (``steps = 2e3`` is 2000) and its lists become tuples; anything else is passed on as it
is, for :meth:`~fidec.config.schema.Config.validate` to judge, so every path gives the same value or the
same one-line error.
"""

from __future__ import annotations

import argparse
import math

from fidec.config.schema import expected, field_types
from fidec.errors import ConfigError

TRUE = ("true", "1")
FALSE = ("false", "0")


def parse_int(text: str) -> int:
    """``'2000'`` or ``'2e3'`` -> 2000; ValueError for text that is not an exactly integral number."""
    try:
        return int(text)
    except ValueError:
        x = float(text)  # ValueError for text that is no number at all
    if not math.isfinite(x) or x != int(x):
        raise ValueError(f"not an integer: {text!r}")
    return int(x)


def _integral(value):
    """An exactly integral float as an int; every other value unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def from_text(name: str, text: str):
    """Field ``name``'s value from ``text``; a one-line ``ConfigError`` naming the field when it cannot be read."""
    typ = field_types()[name]
    try:
        if typ is bool:
            low = text.strip().lower()
            if low not in TRUE + FALSE:
                raise ValueError(text)
            return low in TRUE
        if typ is int:
            return parse_int(text)
        if typ is float:
            return float(text)
        if typ == tuple[int, ...]:
            return tuple(parse_int(x) for x in text.split(",") if x.strip())
        if typ == tuple[float, ...]:
            return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{name} must be {expected(typ)}, got {text!r}") from None
    return text


def coerce(name: str, value):
    """Field ``name``'s value from a typed value (a suite file's, a saved config's, a keyword argument):
    the integer rule of :func:`from_text` for integer fields, lists to tuples; otherwise ``value`` unchanged."""
    typ = field_types().get(name)
    if typ is int:
        return _integral(value)
    if typ == tuple[int, ...] and isinstance(value, (list, tuple)):
        return tuple(_integral(v) for v in value)
    if typ == tuple[float, ...] and isinstance(value, list):
        return tuple(value)
    return value


def coerce_all(values: dict) -> dict:
    """:func:`coerce` applied to every entry of ``values`` (a new dict)."""
    return {k: coerce(k, v) for k, v in values.items()}


def nonneg_int(text: str) -> int:
    """An argparse ``type=`` for counts outside the config (``--episodes N``): an integer >= 0."""
    try:
        v = parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {v}")
    return v


def positive_int(text: str) -> int:
    """An argparse ``type=`` for counts outside the config: an integer >= 1."""
    v = nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v
