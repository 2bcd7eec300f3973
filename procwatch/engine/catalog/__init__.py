"""Every phrase a user reads, one catalogue per language (`en`, `zh`), looked up by a stable message id.

The catalogues are plain dicts of str.format templates: a translation is one file, and a test checks that both
catalogues have the same ids with the same placeholders. The language is process-wide (one user, one screen):
chosen at start-up (`--lang`, else PROCWATCH_LANG, LC_ALL, LC_MESSAGES, LANG) and switchable live. JSON output
stays English whatever the language (its values are for programs). Standard library only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from procwatch.engine.catalog import en, zh

LANGUAGES: dict[str, Mapping[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}
_current = "en"


def set_language(lang: str) -> None:
    global _current
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGUAGES)}")
    _current = lang


def current() -> str:
    return _current


@contextlib.contextmanager
def using(lang: str) -> Iterator[None]:
    """Words in `lang` for the duration (JSON output is English whatever the user reads)."""
    before = _current
    set_language(lang)
    try:
        yield
    finally:
        set_language(before)


def detect(environ: Mapping[str, str]) -> str:
    """PROCWATCH_LANG, then the locale variables in POSIX order of precedence; `zh*` means Chinese."""
    for name in ("PROCWATCH_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            code = value.split("_")[0].split(".")[0].lower()
            return code if code in LANGUAGES else "en"
    return "en"


def t_or(message_id: str, english: str) -> str:
    """The translation of a text whose English lives with its data (a sandbox recipe's name and description)."""
    return english if _current == "en" else LANGUAGES[_current].get(message_id, english)


def t(message_id: str, **fields: object) -> str:
    """The phrase `message_id` in the current language, with its fields filled in."""
    template = LANGUAGES[_current][message_id]
    return template.format(**fields) if fields else template  # (no template has literal braces: a test says so)
