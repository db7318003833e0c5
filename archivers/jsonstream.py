"""Reading JSON text from a binary file one value at a time, in memory bounded by the largest value read.

:class:`JSONStream` is a cursor over a file of JSON: it steps over structure (``[``, ``,``, ``{``,
``:``) and decodes one whole value at a time, so a file holding an array of many elements (a
history's events or batches) is read element by element without the whole document in memory. It
holds the unread rest of one read (``CHUNK`` bytes, or three times the value being read if that is
bigger) and the value it returns.

Positions are byte offsets in the file. Values are UTF-8 text; a value that is not raises
:class:`NotUTF8Error`. Text that is not JSON raises :class:`JSONStreamError` with the reason
:mod:`json` gives and its line, column (in characters, as :mod:`json` counts them) and byte offset;
``truncated`` tells the error is at the end of the file. A value nested too deeply raises the
caller's ``too_deep`` error (see :mod:`archivers.nesting`). Read failures raise ``OSError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from archivers.nesting import nesting_limit

CHUNK = 256 * 1024
"""Bytes read at a time."""

_SPACE = re.compile(r"[ \t\r\n]*")
_CONTINUATION = re.compile("[\x80-\xbf]")  # UTF-8 continuation bytes, as Latin-1 characters
_CUT_WINDOW = 16  # a JSON token cut by the end of a read fails to decode no further back than this


class JSONStreamError(ValueError):
    """The file is not valid JSON (or not of the expected structure) at ``pos``."""

    def __init__(self, reason: str, pos: int, lineno: int, colno: int, *, truncated: bool = False) -> None:
        super().__init__(reason, pos, lineno, colno)
        self.reason = reason
        self.pos = pos
        self.lineno = lineno
        self.colno = colno
        self.truncated = truncated

    def __str__(self) -> str:
        return f"{self.reason} at line {self.lineno} column {self.colno}"


class NotUTF8Error(JSONStreamError):
    """A value is not UTF-8 text; ``pos`` is the offset of the first byte that is not."""

    def __str__(self) -> str:
        return f"{self.reason} at byte {self.pos}"


class JSONStream:
    """A cursor over the JSON text of ``handle`` from byte ``offset``; see the module docstring.

    The text is decoded as Latin-1, one character per byte, so positions in it are byte offsets;
    a value that is not pure ASCII is decoded again from its bytes as UTF-8.
    """

    def __init__(self, handle: IO[bytes], source: str, *, too_deep: type[Exception], offset: int = 0) -> None:
        self._handle = handle
        self._source = source
        self._too_deep = too_deep
        self._decoder = json.JSONDecoder()
        self._text = ""
        self._base = offset  # file offset of self._text[0]
        self._pos = 0  # position in self._text of the next thing to read
        self._eof = False
        self._lines = 0  # newlines before self._text[0] (since ``offset``)
        self._column = 0  # characters between the last of them and self._text[0]
        self.array_ended = False  # the closing "]" of the array being read was taken
        if offset:
            handle.seek(offset)

    @property
    def offset(self) -> int:
        """The file offset of the next character to read (after :meth:`peek`: of the next token)."""
        return self._base + self._pos

    def peek(self) -> str:
        """Skip whitespace and return the next character ("" at the end of the file)."""
        while True:
            match = _SPACE.match(self._text, self._pos)
            assert match is not None
            self._pos = match.end()
            if self._pos < len(self._text) or self._eof:
                return self._text[self._pos : self._pos + 1]
            self._fill(grow=False)

    def take(self, char: str, reason: str) -> None:
        """Consume ``char`` (after whitespace), or raise :class:`JSONStreamError` with ``reason``."""
        if self.peek() != char:
            raise self.error(reason)
        self._pos += 1

    def value(self) -> Any:
        """Decode the next whole value (after whitespace) and step past it."""
        self.peek()
        while True:
            start = self._pos
            try:
                with nesting_limit(self._too_deep, self._source):
                    value, end = self._decoder.raw_decode(self._text, start)
            except json.JSONDecodeError as exc:
                if self._eof or not (exc.pos >= len(self._text) - _CUT_WINDOW or exc.msg.startswith("Unterminated")):
                    raise self.error(exc.msg, exc.pos) from None
                self._fill(grow=True)  # the value may go on in the next read
                continue
            if end == len(self._text) and not self._eof:  # a number (or the like) may go on
                self._fill(grow=True)
                continue
            break
        raw = self._text[start:end]
        self._pos = end
        if not raw.isascii():  # Latin-1 was right for the structure only: decode the UTF-8 bytes
            try:
                text = raw.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError as exc:
                lineno, colno = self._line_column(start)
                raise NotUTF8Error(exc.reason, self._base + start + exc.start, lineno, colno) from None
            with nesting_limit(self._too_deep, self._source):
                value = json.loads(text)
        return value

    def open_array(self, reason: str) -> None:
        """Take the ``[`` of an array (or raise with ``reason``); then read it with :meth:`elements`."""
        self.take("[", reason)
        self.array_ended = self.peek() == "]"
        if self.array_ended:
            self._pos += 1

    def next_element(self) -> Any:
        """The next element of the array being read (``array_ended`` must be false).

        Takes the ``,`` after it (then :attr:`offset` is where the next element starts) or the
        closing ``]`` (then ``array_ended`` is true).
        """
        element = self.value()
        separator = self.peek()
        if separator not in (",", "]"):
            raise self.error("Expecting ',' delimiter")
        self._pos += 1
        if separator == "]":
            self.array_ended = True
        else:
            self.peek()
        return element

    def elements(self) -> Iterator[Any]:
        """The rest of the elements of the array being read."""
        while not self.array_ended:
            yield self.next_element()

    def end(self) -> None:
        """Check that only whitespace follows."""
        if self.peek():
            raise self.error("Extra data")

    def error(self, reason: str, pos: int | None = None) -> JSONStreamError:
        """A :class:`JSONStreamError` at ``pos`` in the text held (default: the next character)."""
        at = self._pos if pos is None else pos
        lineno, colno = self._line_column(at)
        truncated = self._eof and (at >= len(self._text.rstrip(" \t\r\n")) or reason.startswith("Unterminated"))
        return JSONStreamError(reason, self._base + at, lineno, colno, truncated=truncated)

    def _line_column(self, at: int) -> tuple[int, int]:
        """Line and column (from 1; the column in characters) of position ``at`` in the text held."""
        text = self._text
        newline = text.rfind("\n", 0, at)
        if newline < 0:
            return self._lines + 1, self._column + _characters(text[:at]) + 1
        return self._lines + text.count("\n", 0, at) + 1, _characters(text[newline + 1 : at]) + 1

    def _fill(self, grow: bool) -> None:
        """Drop what was read and append the next read (twice the unread text if ``grow``)."""
        dropped = self._text[: self._pos]
        newline = dropped.rfind("\n")
        if newline < 0:
            self._column += _characters(dropped)
        else:
            self._lines += dropped.count("\n")
            self._column = _characters(dropped[newline + 1 :])
        rest = self._text[self._pos :]
        self._base += self._pos
        self._pos = 0
        data = self._handle.read(max(CHUNK, 2 * len(rest)) if grow else CHUNK)
        self._eof = not data
        self._text = rest + data.decode("latin-1")


def _characters(text: str) -> int:
    """How many characters the UTF-8 bytes ``text`` (decoded as Latin-1) hold."""
    return len(text) - len(_CONTINUATION.findall(text))
