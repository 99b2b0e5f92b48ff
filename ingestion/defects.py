"""Rendering of raw JSON objects and the defects and harmless variants injected into them.

A record is a list of (key, json_token) pairs so a defect can drop a key, null it, or put any
raw text in a value, and the line is rendered exactly as a JSON encoder would (no spaces).
"""
from __future__ import annotations

import json
import random
from decimal import Decimal

Pairs = list[tuple[str, str]]


def s(value: str) -> str:
    """A JSON string token."""
    return json.dumps(value)


_TOKENS: dict[str, str] = {}


def token(value: str) -> str:
    """`s(value)`, memoized: enum values and user agents repeat millions of times."""
    t = _TOKENS.get(value)
    if t is None:
        if len(_TOKENS) > 100_000:
            _TOKENS.clear()
        t = _TOKENS[value] = json.dumps(value)
    return t


def parse_pairs(line: str) -> Pairs:
    """The (key, token) pairs of a line rendered by `render` (flat object, scalar values)."""
    return [(k, json.dumps(v) if isinstance(v, str) else _number(v))
            for k, v in json.loads(line, parse_float=Decimal).items()]


def _number(value: object) -> str:
    return "null" if value is None else str(value)


def render(pairs: Pairs) -> str:
    return "{" + ",".join(f'"{k}":{v}' for k, v in pairs) + "}"


def set_token(pairs: Pairs, key: str, token: str | None) -> Pairs:
    """Replace a value's token (None drops the key)."""
    if token is None:
        return [(k, v) for k, v in pairs if k != key]
    return [(k, token if k == key else v) for k, v in pairs]


def get_token(pairs: Pairs, key: str) -> str:
    return next(v for k, v in pairs if k == key)


def money(value: Decimal) -> str:
    return str(value)


# --- defects (each turns a valid record into one that fails exactly one rule) ---------------

def malformed_json(rng: random.Random, line: str) -> str:
    """A line that is not one strict RFC 8259 JSON object."""
    kind = rng.randrange(10)
    if kind == 0:                                   # truncated mid-record
        return line[: rng.randint(1, len(line) - 2)]
    if kind == 1:                                   # single-quoted strings
        return line.replace('"', "'")
    if kind == 2:                                   # trailing comma
        return line[:-1] + ",}"
    if kind == 3:                                   # trailing text after the object
        return line + " #resent"
    if kind == 4:                                   # top-level array
        return "[" + line + "]"
    if kind == 5:                                   # blank line
        return ""
    if kind == 6:                                   # a comment
        return line + " // retry"
    if kind == 7:                                   # unquoted names
        return line.replace('":', ":").replace('{"', "{").replace(',"', ",")
    if kind == 8:                                   # two objects on one line
        return line + line
    return "<<binary garbage \x7f>>"                # not JSON at all


def missing_field(rng: random.Random, pairs: Pairs, required: tuple[str, ...]) -> Pairs:
    key = rng.choice(required)
    return set_token(pairs, key, rng.choice([None, "null", '""', '"   "']))


def invalid_timestamp(rng: random.Random, pairs: Pairs, fields: tuple[str, ...]) -> Pairs:
    key = rng.choice(fields)
    current = json.loads(get_token(pairs, key))
    date = current[:10]
    bad = rng.choice([
        f"{date[:8]}31T10:00:00Z" if date[5:7] in ("02", "04", "06", "09", "11") else f"{date[:5]}02-30T10:00:00Z",
        date,                                       # date only
        "1767225600",                               # epoch seconds as a string
        f"{date}T10:00:00 Europe/Paris",            # zone name
        f"{date.replace('-', '/')} 10:00:00",       # wrong separators
        f"{date}T25:10:00Z",                        # hour out of range
        "not a timestamp",
    ])
    if bad == "1767225600" and rng.random() < 0.5:
        return set_token(pairs, key, bad)           # epoch as a JSON number
    return set_token(pairs, key, s(bad))


def enum_case(rng: random.Random, value: str) -> str:
    """A harmless spelling of an enum value that normalizes back to it."""
    return rng.choice([
        value.upper(), f" {value} ", value.title(), value.replace("_", "-"),
        value.replace("_", " ").title(), f"\t{value.upper()} ",
    ])


def currency_case(rng: random.Random, value: str) -> str:
    return rng.choice([value.lower(), f" {value} ", f" {value.lower()}", value.title()])


def invalid_integer_token(rng: random.Random, value: int) -> str:
    """An order_id that is not an ANSI integer."""
    return rng.choice([s(f"ORD-{value}"), f"{value}.5", s(f"{value}.0"), s("1e5"), s("n/a")])
