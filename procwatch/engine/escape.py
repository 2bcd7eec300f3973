"""Make untrusted text (process names, command lines) safe to show. No Textual here."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls and DEL (terminal escape sequences), surrogates (undecodable bytes kept by os.fsdecode), line and
# paragraph separators, and every invisible format character (Unicode category Cf: zero-width characters, bidi
# controls such as U+202E and U+061C which reorder text, the soft hyphen, tag characters, interlinear annotations):
# they can hide or disguise text. The ranges are the Cf code points of Unicode 15, listed so that import stays cheap.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """Escape every character that could control the terminal or hide itself; leave the rest as is."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def _char_cells(char: str) -> int:
    if unicodedata.combining(char) or char in "\u200d":
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def cell_width(text: str) -> int:
    """Terminal cells of escaped text: wide (CJK) characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_cells(char) for char in text)


def cut_cells(text: str, cells: int) -> str:
    """The longest start of escaped text that fits in `cells` terminal cells (a wide character is never split)."""
    if text.isascii():
        return text[:cells]
    used = 0
    for index, char in enumerate(text):
        used += _char_cells(char)
        if used > cells:
            return text[:index]
    return text
