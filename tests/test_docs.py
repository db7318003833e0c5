"""Every example in ``docs/*.md`` runs, and says what it claims.

Fenced code blocks are classified by the first word of their info string:

- ``bash``: run with ``bash -euo pipefail`` in a fresh temporary directory, with the directory of
  this interpreter (the venv's ``bin``, where ``archiver`` lives) first on ``PATH``;
- ``python``: run with this interpreter, in a fresh temporary directory;
- anything else (``text``, ``console``, ``yaml``, ``json``, ...): shown, not run.

Words after the language adjust a runnable block:

- ``exit=N``: the block must exit with status ``N`` (default 0);
- ``cwd=repo``: run in the repository root instead of a temporary directory;
- ``skip``: not run (commands that install software or run for minutes); reported as skipped.

A ``text output`` block right after a runnable block declares its expected output: each non-blank
line of it, except ``...`` lines, must equal a line of the block's output (stdout and stderr interleaved), in order,
with runs of whitespace compared as one space and ``...`` inside a line standing for any text;
lines in between are allowed.

Relative links between pages must point at files that exist.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
RUNNABLE = {"bash", "python"}
SHOWN = {"text", "console", "yaml", "json", "ini", "toml", "go", "proto", "diff", ""}
BLOCK_TIMEOUT = 300
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)(?P<info>[^`\n]*)$")
_CODE = re.compile(r"^ {0,3}(```+|~~~+).*?^ {0,3}\1[ \t]*$|`[^`\n]*`", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


@dataclass
class Block:
    """One fenced code block of a docs page."""

    page: str
    index: int
    line: int
    language: str
    options: list[str]
    text: str
    expected_output: str | None = None

    @property
    def id(self) -> str:
        """The pytest id: page, block number and starting line."""
        return f"{self.page}#{self.index}@L{self.line}"

    @property
    def expected_exit(self) -> int:
        """The exit status the block must end with."""
        for option in self.options:
            if option.startswith("exit="):
                return int(option.removeprefix("exit="))
        return 0


def parse_blocks(page: Path) -> list[Block]:
    """Return the fenced code blocks of ``page`` in order, attaching ``text output`` blocks to their predecessor."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match["fence"]
        words = match["info"].split()
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        language = words[0].lower() if words else ""
        text = "\n".join(body) + "\n"
        if language == "text" and "output" in words[1:] and blocks and blocks[-1].language in RUNNABLE:
            blocks[-1].expected_output = text
            continue
        blocks.append(Block(page.name, len(blocks), start, language, words[1:], text))
    return blocks


def all_blocks() -> list[Block]:
    """The code blocks of every docs page."""
    return [block for page in sorted(DOCS.glob("*.md")) for block in parse_blocks(page)]


BLOCKS = all_blocks()
RUN_BLOCKS = [block for block in BLOCKS if block.language in RUNNABLE]


def _squash(line: str) -> str:
    return " ".join(line.split())


def check_output(expected: str, output: str) -> None:
    """Assert that every non-blank, non-``...`` line of ``expected`` appears in ``output`` in order.

    Runs of whitespace compare equal whatever their length (table column widths may change), and
    ``...`` inside a line matches any text (a temporary directory, say).
    """
    actual = [_squash(line) for line in output.splitlines()]
    position = 0
    for wanted in (_squash(line) for line in expected.splitlines()):
        if not wanted or wanted == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("...")) + r"\Z")
        while position < len(actual) and not pattern.match(actual[position]):
            position += 1
        assert position < len(actual), f"expected output line not found (in order): {wanted!r}\n--- got:\n{output}"
        position += 1


def run_block(block: Block, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``block`` in ``workdir`` (or the repository root with ``cwd=repo``); stderr is merged into stdout."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    cwd = REPO if "cwd=repo" in block.options else workdir
    if block.language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", block.text]
    else:
        script = workdir / f"block_{block.index}.py"
        script.write_text(block.text, encoding="utf-8")
        command = [sys.executable, str(script)]
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )


def test_docs_pages_exist() -> None:
    """The pages this project promises are there and hold runnable examples."""
    for name in (
        "index.md",
        "quickstart.md",
        "library.md",
        "cli.md",
        "query-language.md",
        "compatibility.md",
        "benchmarks.md",
        "testing.md",
    ):
        assert (DOCS / name).is_file(), name
    assert RUN_BLOCKS, "no runnable examples found in docs/"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_language_is_known(block: Block) -> None:
    """A block in a language the runner does not know would silently go untested."""
    assert block.language in RUNNABLE | SHOWN, f"{block.id}: unknown code block language {block.language!r}"


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_docs_example(block: Block, tmp_path: Path) -> None:
    """Run one example block; it exits as declared and prints its declared output."""
    if "skip" in block.options:
        pytest.skip("marked skip in the docs (installs software or runs for minutes)")
    result = run_block(block, tmp_path)
    assert result.returncode == block.expected_exit, (
        f"{block.id}: exit status {result.returncode}, expected {block.expected_exit}\n"
        f"--- block:\n{block.text}--- output (stdout and stderr):\n{result.stdout}"
    )
    if block.expected_output is not None:
        check_output(block.expected_output, result.stdout)


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    """Links to other pages and files of the repository point at something that exists."""
    text = _CODE.sub("", page.read_text(encoding="utf-8"))
    for match in _LINK.finditer(text):
        target = match["target"].split("#", 1)[0]
        if not target or re.match(r"^[a-z]+:", target):
            continue
        assert (page.parent / target).exists(), f"{page.name}: broken link {match['target']!r}"
