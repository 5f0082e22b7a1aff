"""Help text in Japanese wrapped to the terminal's columns.

Click wraps help at spaces and counts a character as one column. Japanese has no spaces
between words and each of its characters takes two columns, so a Japanese help ran past
the right edge of the terminal and its continuation lines lost their indent. Here text
that holds wide characters is broken between any two of them (or at a space), counted in
columns, and kept from breaking before closing punctuation (``、。）``: one such mark
hangs past the edge, as Japanese typesetting hangs it, and a second goes down to the next
line with the character before it) or after an opening bracket;
a run of narrow characters (an option, a URL, a number) is kept whole unless it is wider
than a line. Text with no wide character is left to Click, so English help is Click's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

__all__ = ["columns", "is_wide", "prewrapped", "wrap"]

# no line begins with these (they hang at the end of the line before) ...
_NO_START = set("、。，．,.)）]］}｝〕〉》」』】〙〗〟’”ゝゞー"
                "ァィゥェォッャュョヮヵヶぁぃぅぇぉっゃゅょゎ・：；:;！？!?々〻")
# ... and none ends with these
_NO_END = set("(（[［{｛〔〈《「『【〘〖〝‘“")
RAW = "\b"  # Click's mark of a paragraph it must not wrap again


def _width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def columns(text: str) -> int:
    """The columns ``text`` takes on a terminal."""
    return sum(_width(c) for c in text)


def is_wide(text: str) -> bool:
    """Whether ``text`` holds a character that takes two columns."""
    return any(_width(c) == 2 for c in text)


def _atoms(text: str) -> Iterator[str]:
    """``text`` as what a line may break between: each wide character, each space and each
    run of other narrow characters."""
    run = ""
    for char in text:
        if char == " " or _width(char) == 2:
            if run:
                yield run
                run = ""
            yield char
        else:
            run += char
    if run:
        yield run


def wrap(text: str, width: int) -> list[str]:
    """``text`` (one paragraph) as lines of at most ``width`` columns, but for closing
    punctuation hanging at a line's end and a narrow run wider than a whole line."""
    width = max(width, 10)
    lines: list[str] = []
    line: list[str] = []
    used = 0

    def end_line() -> None:
        nonlocal line, used
        carried: list[str] = []
        while line and line[-1] and line[-1][-1] in _NO_END and len(line) > 1:
            carried.insert(0, line.pop())  # an opening bracket goes with what it opens
        lines.append("".join(line).rstrip(" "))
        line = carried
        used = columns("".join(carried))

    for atom in _atoms(text):
        if atom == " ":
            if line:  # a space at a line's start is dropped
                line.append(atom)
                used += 1
            continue
        size = columns(atom)
        if used + size > width and line:
            if atom[0] not in _NO_START:
                end_line()
            elif used + size > width + 2 or line[-1][-1] in _NO_START:
                # one mark hangs; a second goes down with what it closes
                moved = [line.pop()]
                while line and (moved[0] == " " or moved[0][0] in _NO_START):
                    moved.insert(0, line.pop())
                end_line()
                line, used = [*line, *moved], columns("".join([*line, *moved]))
        while size > width and not line:  # a narrow run wider than a line: cut it
            lines.append(atom[:width])
            atom = atom[width:]
            size = columns(atom)
        line.append(atom)
        used += size
    if line:
        lines.append("".join(line).rstrip(" "))
    return lines


def _joined(lines: list[str]) -> str:
    """A paragraph's source lines as one: a line break between two wide characters is no
    space in Japanese; anywhere else it is one, as Click joins them."""
    out = ""
    for line in (part.strip() for part in lines):
        if out and line and not (_width(out[-1]) == 2 and _width(line[0]) == 2):
            out += " "
        out += line
    return out


def prewrapped(text: str, width: int) -> str:
    """``text`` wrapped to ``width`` columns, each paragraph marked for Click to keep as it
    is; text with no wide character, or a paragraph Click is told to keep, unchanged."""
    if not is_wide(text):
        return text
    paragraphs: list[str] = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        if not lines or lines[0].strip() == RAW:
            paragraphs.append(paragraph)
            continue
        paragraphs.append("\n".join([RAW, *wrap(_joined(lines), width)]))
    return "\n\n".join(paragraphs)
