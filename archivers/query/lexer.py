"""Tokenizer for Temporal's List Filter syntax.

Produces :class:`Token` objects with their 0-based start position. Keywords are matched
case-insensitively and reported with ``kind == "KEYWORD"`` and an upper-cased ``value``. Strings may
be single- or double-quoted; a doubled quote or a MySQL backslash escape inside stands for one
character. Backtick-quoted identifiers allow any character except a backtick (doubled backtick = one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from archivers.errors import QueryError

TokenKind = Literal["IDENT", "STRING", "NUMBER", "KEYWORD", "OP", "EOF"]

KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "BETWEEN", "IN", "STARTS_WITH", "IS", "NULL", "ORDER", "BY", "ASC", "DESC", "TRUE",
     "FALSE"}
)

_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">", "(", ")", ",", "-", "+")


@dataclass(frozen=True)
class Token:
    """One lexical token: its ``kind``, decoded ``value`` and 0-based start ``position``."""

    kind: TokenKind
    value: str
    position: int


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        if ch == "\\" and quote != "`":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    what = "identifier" if quote == "`" else "string"
    raise QueryError(f"unterminated {what}: missing closing {quote}", position=start)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens ending with an ``EOF`` token; raise :class:`QueryError` on bad input."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"":
            value, end = _read_quoted(text, i)
            tokens.append(Token("STRING", value, i))
            i = end
            continue
        if ch == "`":
            value, end = _read_quoted(text, i)
            if not value:
                raise QueryError("empty quoted identifier", position=i)
            tokens.append(Token("IDENT", value, i))
            i = end
            continue
        m = _NUMBER.match(text, i)
        if m is not None:
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] == "_"):
                raise QueryError(f"invalid number {text[i:end + 1]!r}", position=i)
            tokens.append(Token("NUMBER", m[0], i))
            i = end
            continue
        m = _IDENT.match(text, i)
        if m is not None:
            word = m[0]
            if word.upper() in KEYWORDS:
                tokens.append(Token("KEYWORD", word.upper(), i))
            else:
                tokens.append(Token("IDENT", word, i))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                tokens.append(Token("OP", "!=" if op == "<>" else op, i))
                i += len(op)
                break
        else:
            raise QueryError(f"unexpected character {ch!r}", position=i)
    tokens.append(Token("EOF", "", n))
    return tokens
