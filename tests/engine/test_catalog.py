"""One catalogue per language: the same message ids, the same fields, and every id the code asks for exists."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from procwatch.engine import catalog
from procwatch.engine.catalog import en, zh

SOURCE = Path(__file__).resolve().parents[2] / "procwatch"


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_catalogues_have_the_same_messages():
    assert sorted(set(en.MESSAGES) - set(zh.MESSAGES)) == [], "in English only"
    # a sandbox recipe's English lives with the recipe (procwatch.sandbox.recipes): only its translation is here
    extra = sorted(m for m in set(zh.MESSAGES) - set(en.MESSAGES) if not m.startswith("recipe."))
    assert extra == [], "in Chinese only"


def test_every_sandbox_recipe_is_translated():
    from procwatch.sandbox.recipes import RECIPES

    for key in RECIPES:
        assert f"recipe.{key}.name" in zh.MESSAGES and f"recipe.{key}.description" in zh.MESSAGES, key


@pytest.mark.parametrize("message_id", sorted(en.MESSAGES))
def test_a_translation_uses_only_the_fields_it_is_given(message_id):  # (recipes: plain text, no fields)
    # Chinese may leave out an English-only field (the plural ending {s}); it may not ask for one that is not given
    assert fields(zh.MESSAGES[message_id]) <= fields(en.MESSAGES[message_id]), message_id


def test_every_message_id_the_code_asks_for_exists():
    literal = re.compile(r"""\bt\(\s*["']([a-z_.]+[a-z_])["']""")
    asked = {m for path in SOURCE.rglob("*.py") for m in literal.findall(path.read_text())}
    assert asked, "the scan found nothing: the pattern is broken"
    assert sorted(asked - set(en.MESSAGES)) == []


def demo_records() -> list[tuple[str, int, str, set[str]]]:
    """Every process record a demo makes (Ctx.record(role, stat, says, [pid], **fields), or a ProcRecord made
    whole): (file, line, the message id it says, the names of the fields it gives)."""
    found = []
    for path in sorted((SOURCE / "sandbox").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "record" and len(node.args) >= 2:  # a demo's Ctx.record
                says = node.args[2] if len(node.args) > 2 else ast.Constant("")
                given = {keyword.arg for keyword in node.keywords if keyword.arg}
            elif name == "ProcRecord" and isinstance(node.args[4], ast.Constant):  # (not Ctx.record's own)
                says, given = node.args[4], set()
                assert isinstance(node.args[5], ast.Dict) and not node.args[5].keys, "fields: name them in a call"
            else:
                continue
            assert isinstance(says, ast.Constant) and isinstance(says.value, str), f"{path.name}:{node.lineno}"
            found.append((path.name, node.lineno, says.value, given))
    return found


def test_every_demo_process_says_a_known_phrase_with_the_fields_it_names():
    """A demo sends what each of its processes is as a message id and its values (the UI says it in the language
    of the moment): each id is in both catalogues, and the values given are exactly the fields its English
    phrase names (the Chinese one names no other)."""
    from procwatch.engine.words import DEMO_FACTS

    records = demo_records()
    assert len(records) >= 20, "the scan found too few records: the pattern is broken"
    said = set()
    for where, line, says, given in records:
        if not says:  # nothing beyond the recipe's description
            assert not given, (where, line)
            continue
        assert says.startswith(DEMO_FACTS) and says in en.MESSAGES and says in zh.MESSAGES, (where, line, says)
        assert given == fields(en.MESSAGES[says]), (where, line, says)
        said.add(says)
    # and every demo phrase of the catalogue is said by some demo (the neutral one: by the UI, for an odd record)
    assert sorted({m for m in en.MESSAGES if m.startswith(DEMO_FACTS)} - said) == ["sandbox.proc.unknown"]


@pytest.mark.parametrize("lang", list(catalog.LANGUAGES))
def test_a_demo_process_is_said_neutrally_when_its_record_is_odd(lang):
    from procwatch.engine.words import demo_fact

    with catalog.using(lang):
        neutral = catalog.t("sandbox.proc.unknown")
        assert demo_fact("sandbox.proc.cow_parent", {"a": 1}) == catalog.t("sandbox.proc.cow_parent", a=1)
        assert demo_fact("", {"a": 1}) == ""  # nothing of its own: the recipe's description says it all
        for says, values in [("sandbox.proc.no_such_phrase", {}), ("sandbox.title", {}),  # not a demo phrase
                             ("sandbox.proc.cow_parent", {}),  # a field missing
                             ("sandbox.proc.exec_run2", {"name": "x", "seconds": "two", "program": "y"}),  # :g
                             ("sandbox.proc.cow_parent", {"a": 1, "message_id": "x"})]:  # t()'s own argument
            assert demo_fact(says, values) == neutral, (says, values)


@pytest.mark.parametrize("lang", list(catalog.LANGUAGES))
def test_every_column_says_what_it_shows(lang):
    """A column's help (the palette's line under "Show column …") is the catalogue's `column.<key>.help`."""
    from procwatch.engine.columns import COLUMNS

    with catalog.using(lang):
        helps = {column.key: column.help for column in COLUMNS}
    assert all(helps.values())
    assert lang == "en" or not {key for key, text in helps.items() if text == en.MESSAGES[f"column.{key}.help"]}


# Where a Textual UI shows text: the argument at this position (None: keywords only) and these keywords.
TEXT_ARGUMENTS = {"Binding": 2, "Label": 0, "Static": 0, "Button": 0, "Option": 0, "Text": 0, "SummaryBar": 0,
                  "notify": 0, "say": 0, "add_column": 0, "update": 0, "write": 0, "append": 0, "Input": None}
TEXT_KEYWORDS = {"description", "placeholder", "label", "prompt", "title", "tooltip", "message", "content", "text"}
# Words shown as they are in every language: ps's and the kernel's names (the STAT column, SIGTERM, a PID).
LITERAL_WORDS = {"STAT", "SIG", "PID"}


def literal_text_shown(source: str, where: str) -> list[str]:
    """String literals (and the literal parts of f-strings) with a word in them, where the UI shows text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name not in TEXT_ARGUMENTS:
            continue
        at = TEXT_ARGUMENTS[name]
        texts = [node.args[at]] if at is not None and len(node.args) > at else []
        texts += [keyword.value for keyword in node.keywords if keyword.arg in TEXT_KEYWORDS]
        for text in texts:
            parts = [text] if isinstance(text, ast.Constant) else text.values if isinstance(text, ast.JoinedStr) else []
            for part in parts:
                if (isinstance(part, ast.Constant) and isinstance(part.value, str)
                        and set(re.findall(r"[A-Za-z]{2,}", part.value)) - LITERAL_WORDS):
                    found.append(f"{where}:{node.lineno}: {name}({part.value!r})")
    return found


def test_the_tui_shows_no_text_of_its_own():
    """What the TUI shows comes from the catalogue (so it follows the language): no literal words in bindings,
    labels, notices, placeholders or headers in procwatch/ui and procwatch/view."""
    paths = sorted((SOURCE / "ui").rglob("*.py")) + sorted((SOURCE / "view").rglob("*.py"))
    assert [found for path in paths for found in literal_text_shown(path.read_text(), path.name)] == []
    # the scan finds what it must: the fleet view's old bindings, a placeholder, an f-string's words
    sample = 'Binding("q", "quit", "Quit")\nInput(placeholder="name")\nLabel(f"{n} hosts")\nOption(f"SIG{s}")\n'
    assert len(literal_text_shown(sample, "sample")) == 3


def test_chinese_uses_the_tutorials_words():
    text = " ".join(zh.MESSAGES.values())
    for term in ("父进程", "子进程", "孤儿进程", "僵尸进程", "收养", "退出状态", "就绪态", "运行态", "等待态", "新建态",
                 "终止态", "时间片", "会话组组长", "前台进程", "高优先级", "低优先级", "多线程", "回收"):
        assert term in text, term


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "en"), ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"), ({"LC_MESSAGES": "zh_TW", "LANG": "en_US"}, "zh"),
    ({"PROCWATCH_LANG": "zh", "LC_ALL": "en_US.UTF-8"}, "zh"), ({"LANG": "fr_FR.UTF-8"}, "en"),
])
def test_the_language_comes_from_the_environment_in_posix_order(environ, expected):
    assert catalog.detect(environ) == expected


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        catalog.set_language("fr")


def test_no_template_has_literal_braces():
    """t() returns a template without fields as it is, unformatted: a doubled brace would show doubled."""
    for messages in (en.MESSAGES, zh.MESSAGES):
        assert not [m for m, text in messages.items() if "{{" in text or "}}" in text]
