"""Go's spellings of JSON scalars, for output that must match Temporal's Go code byte for byte.

Floats as ``strconv.FormatFloat(v, 'f', -1, 64)`` and as ``encoding/json`` (which protobuf-go's
``protojson`` copies) writes them; strings as ``encoding/json`` escapes them.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal


def format_go_float(value: float) -> str:
    """Go ``strconv.FormatFloat(value, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_json_float(value: float) -> str:
    """Go ``json.Marshal`` of a float64 (``'f'`` form, or ``'e'`` form below 1e-6 / from 1e21).

    Raises ``ValueError`` for NaN and infinities, which JSON cannot hold as numbers.
    """
    if not math.isfinite(value):
        raise ValueError(f"json: unsupported value: {value!r}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)
        mantissa, exponent = text.split("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0") or "0"
        if len(digits) < 2 and sign == "+":
            digits = digits.zfill(2)
        return f"{mantissa.removesuffix('.0')}e{sign}{digits}"
    return format_go_float(value)


def go_json_string(text: str) -> str:
    """Go ``json.Marshal`` of a string (HTML characters and U+2028/U+2029 escaped)."""
    encoded = json.dumps(text, ensure_ascii=False)
    return (encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_JSON_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")')


def indent_json(compact: str, indent: int) -> str:
    """``compact`` JSON (no whitespace) as ``json.dumps(..., indent=indent)`` and Go's ``MarshalIndent`` lay it out.

    Much faster than ``json.dumps`` with an indent (which falls back to json's pure Python encoder):
    the text is split around its strings, and the few distinct runs of structural characters
    between them (``":"``, ``",{"``, ``"}]}"``...) are laid out once per depth they occur at.
    """
    parts = _JSON_STRING.split(compact)  # even indexes: what lies between strings; odd: the strings
    laid_out: dict[tuple[str, int], tuple[str, int]] = {}
    depth = 0
    for index in range(0, len(parts), 2):
        key = (parts[index], depth)
        done = laid_out.get(key)
        if done is None:
            done = laid_out[key] = _lay_out(parts[index], depth, indent)
        parts[index], depth = done
    return "".join(parts)


def _lay_out(structure: str, depth: int, indent: int) -> tuple[str, int]:
    """``structure`` (characters between two strings of compact JSON) indented, and the depth after it."""
    out: list[str] = []
    position, end = 0, len(structure)
    while position < end:
        char = structure[position]
        if structure[position : position + 2] in ("{}", "[]"):
            out.append(structure[position : position + 2])
            position += 2
            continue
        if char in "{[":
            depth += 1
            out.append(char + "\n" + " " * (indent * depth))
        elif char in "}]":
            depth -= 1
            out.append("\n" + " " * (indent * depth) + char)
        elif char == ",":
            out.append(",\n" + " " * (indent * depth))
        elif char == ":":
            out.append(": ")
        else:
            out.append(char)  # part of a number, true, false or null
        position += 1
    return "".join(out), depth
