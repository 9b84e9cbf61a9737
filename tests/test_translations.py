"""The Norwegian (bokmål) catalogue: complete, compiled, and in step with the source.

A new string anywhere in the project fails here until it is extracted, translated and compiled:

    DEBUG=true .venv/bin/python manage.py makemessages -l nb --ignore=.venv --ignore=var --ignore=static \
        --ignore=tests --ignore=bench
    # translate the new entries in locale/nb/LC_MESSAGES/django.po (and remove any "fuzzy" flag)
    DEBUG=true .venv/bin/python manage.py compilemessages -l nb --ignore=.venv

The compiled django.mo is committed, so a machine with only Python gets Norwegian without GNU gettext.
"""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "locale" / "nb" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# The folders the documented makemessages command leaves out.
IGNORED_DIRS = (".venv", "var", "static", "tests", "bench")
MAKEMESSAGES_ARGS = ["makemessages", "-l", "nb", *(f"--ignore={name}" for name in IGNORED_DIRS)]
GETTEXT_TOOLS = ("xgettext", "msgmerge", "msguniq", "msgattrib")

HOW_TO_FIX = (
    "Run `DEBUG=true .venv/bin/python manage.py makemessages -l nb --ignore=.venv --ignore=var --ignore=static "
    "--ignore=tests --ignore=bench`, translate the new entries in locale/nb/LC_MESSAGES/django.po, then "
    "`DEBUG=true .venv/bin/python manage.py compilemessages -l nb --ignore=.venv` and commit both files."
)

Key = tuple[str | None, str, str | None]  # (msgctxt, msgid, msgid_plural)


# --- A small PO parser -------------------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"\s*$')
_CONTINUATION = re.compile(r'^"(.*)"\s*$')


def _unescape(text: str, line: int) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in _ESCAPES:
            raise ValueError(f"django.po line {line}: unknown escape \\{match.group(1)}")
        return _ESCAPES[match.group(1)]

    return re.sub(r"\\(.)", replace, text)


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.msgctxt, self.msgid or "", self.msgid_plural)

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translations(self) -> list[str]:
        return [self.msgstr[index] for index in sorted(self.msgstr)]

    def __str__(self) -> str:
        context = f"[{self.msgctxt}] " if self.msgctxt is not None else ""
        return f"line {self.line}: {context}{self.msgid!r}"


def parse_po(text: str) -> list[Entry]:
    """Entries of a PO file in order, the header (msgid "") included, obsolete (#~) entries left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    pending_flags: set[str] = set()
    target: tuple[str, int] | None = None  # the field that continuation lines extend

    def finish() -> None:
        nonlocal current, target
        if current is not None:
            if current.msgid is None or not current.msgstr:
                raise ValueError(f"django.po line {current.line}: entry without msgid or msgstr")
            entries.append(current)
        current, target = None, None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            finish()
            if line:
                pending_flags = set()  # flags of an obsolete entry
            continue
        if line.startswith("#"):
            if current is not None and current.msgstr:
                finish()
            if line.startswith("#,"):
                pending_flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        keyword = _KEYWORD.match(line)
        if keyword:
            name, index, value = keyword.group(1), keyword.group(2), _unescape(keyword.group(3), number)
            if name in ("msgctxt", "msgid") and current is not None and (current.msgstr or name == "msgctxt"):
                finish()
            if current is None:
                current, pending_flags = Entry(line=number, flags=pending_flags), set()
            if name.startswith("msgstr"):
                slot = int(index) if index is not None else 0
                current.msgstr[slot] = value
                target = ("msgstr", slot)
            else:
                setattr(current, name, value)
                target = (name, 0)
            continue
        continuation = _CONTINUATION.match(line)
        if continuation and current is not None and target is not None:
            value = _unescape(continuation.group(1), number)
            name, slot = target
            if name == "msgstr":
                current.msgstr[slot] += value
            else:
                setattr(current, name, getattr(current, name) + value)
            continue
        raise ValueError(f"django.po line {number}: cannot parse {raw!r}")
    finish()
    return entries


def _header(entries: list[Entry]) -> tuple[Entry, dict[str, str]]:
    header = next(entry for entry in entries if entry.key == (None, "", None))
    fields = {}
    for line in header.msgstr[0].splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return header, fields


@pytest.fixture(scope="module")
def po_entries() -> list[Entry]:
    return parse_po(PO_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def messages(po_entries: list[Entry]) -> list[Entry]:
    """The translatable entries, without the header."""
    return [entry for entry in po_entries if entry.msgid != "" or entry.msgctxt is not None]


@pytest.fixture(scope="module")
def mo_catalog() -> dict[object, str]:
    with MO_PATH.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    # The parsed catalogue itself: gettext() answers the msgid for a missing entry, which can't be told from a
    # translation that is the same in both languages ("HER-id", "API", "Status").
    return dict(translations._catalog)  # type: ignore[attr-defined]


# --- (a) every entry translated, nothing fuzzy -------------------------------------------------------------------


def test_po_header_declares_bokmal_and_its_plural_forms(po_entries: list[Entry]):
    header, fields = _header(po_entries)
    assert not header.fuzzy, "the header is marked fuzzy: remove '#, fuzzy' above msgid \"\""
    assert fields["Language"] == "nb"
    assert fields["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"


def test_every_message_has_a_translation_and_none_is_fuzzy(messages: list[Entry]):
    assert len(messages) > 100, "django.po looks empty; was it regenerated from the wrong folder?"
    untranslated = [str(entry) for entry in messages if not all(entry.translations)]
    fuzzy = [str(entry) for entry in messages if entry.fuzzy]
    wrong_forms = [str(entry) for entry in messages if entry.msgid_plural is not None and len(entry.msgstr) != 2]
    problems = []
    if untranslated:
        problems.append("Untranslated entries in django.po:\n  " + "\n  ".join(untranslated))
    if fuzzy:
        problems.append(
            "Fuzzy entries in django.po (msgmerge guessed them from a similar string; they are not compiled). "
            "Check each translation and remove the 'fuzzy' flag:\n  " + "\n  ".join(fuzzy)
        )
    if wrong_forms:
        problems.append("Plural entries need msgstr[0] and msgstr[1]:\n  " + "\n  ".join(wrong_forms))
    assert not problems, "\n".join(problems)


_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def test_translations_keep_placeholders_and_markup(messages: list[Entry]):
    problems = []
    for entry in messages:
        for index, translation in entry.msgstr.items():
            source = entry.msgid if index == 0 or entry.msgid_plural is None else entry.msgid_plural
            if "python-format" in entry.flags and Counter(_PLACEHOLDER.findall(source)) != Counter(
                _PLACEHOLDER.findall(translation)
            ):
                problems.append(f"{entry} msgstr[{index}] has placeholders {_PLACEHOLDER.findall(translation)}")
            if Counter(_TAG.findall(source)) != Counter(_TAG.findall(translation)):
                problems.append(f"{entry} msgstr[{index}] has markup {_TAG.findall(translation)}")
    assert not problems, "Translations must keep placeholders and HTML exactly:\n  " + "\n  ".join(problems)


# --- (b) the committed .mo is the compiled .po ------------------------------------------------------------------


def _catalog_key(entry: Entry, index: int | None = None) -> object:
    msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
    return msgid if index is None else (msgid, index)


def test_compiled_catalogue_matches_the_po(messages: list[Entry], mo_catalog: dict[object, str]):
    expected: dict[object, str] = {}
    for entry in messages:
        if entry.fuzzy or not all(entry.translations):
            continue  # msgfmt leaves these out; the test above reports them
        if entry.msgid_plural is None:
            expected[_catalog_key(entry)] = entry.msgstr[0]
        else:
            for index, translation in entry.msgstr.items():
                expected[_catalog_key(entry, index)] = translation
    compiled = {key: value for key, value in mo_catalog.items() if key != ""}
    missing = sorted(str(key) for key in expected.keys() - compiled.keys())
    extra = sorted(str(key) for key in compiled.keys() - expected.keys())
    different = sorted(str(key) for key in expected.keys() & compiled.keys() if expected[key] != compiled[key])
    assert not (missing or extra or different), (
        "locale/nb/LC_MESSAGES/django.mo is not the compiled django.po; run "
        "`DEBUG=true .venv/bin/python manage.py compilemessages -l nb --ignore=.venv` and commit django.mo.\n"
        f"  missing from .mo: {missing}\n  only in .mo: {extra}\n  translated differently: {different}"
    )


def test_compiled_catalogue_has_bokmal_plural_forms():
    with MO_PATH.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    assert translations.info()["language"] == "nb"
    assert translations.info()["plural-forms"] == "nplurals=2; plural=(n != 1);"
    assert [translations.plural(n) for n in (0, 1, 2)] == [1, 0, 1]


def test_django_serves_the_catalogue():
    from django.utils import translation

    with translation.override("nb"):
        assert translation.gettext("Sign in") == "Logg inn"
        assert translation.ngettext("%(total)s submitter", "%(total)s submitters", 2) == "%(total)s innsendere"


# --- (c) the catalogue is in step with the source ----------------------------------------------------------------

_GETTEXT_FUNCTIONS = {
    # name: (context argument, msgid argument, plural argument)
    "gettext": (None, 0, None),
    "gettext_lazy": (None, 0, None),
    "gettext_noop": (None, 0, None),
    "ngettext": (None, 0, 1),
    "ngettext_lazy": (None, 0, 1),
    "pgettext": (0, 1, None),
    "pgettext_lazy": (0, 1, None),
    "npgettext": (0, 1, 2),
    "npgettext_lazy": (0, 1, 2),
}


def _source_files(suffix: str) -> list[Path]:
    found = []
    for directory, dirnames, filenames in os.walk(ROOT):
        relative = Path(directory).relative_to(ROOT)
        dirnames[:] = [
            name
            for name in dirnames
            if not name.startswith(".") and name != "__pycache__" and not (relative == Path() and name in IGNORED_DIRS)
        ]
        found += [Path(directory) / name for name in filenames if name.endswith(suffix)]
    return sorted(found)


def _python_gettext_calls(path: Path) -> list[tuple[Key, int]]:
    """Literal gettext calls in a module, also those xgettext misses (inside f-strings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
            for alias in node.names:
                if alias.name in _GETTEXT_FUNCTIONS:
                    aliases[alias.asname or alias.name] = alias.name
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in aliases:
            function = aliases[node.func.id]
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in _GETTEXT_FUNCTIONS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "translation"
        ):
            function = node.func.attr
        else:
            continue
        positions = _GETTEXT_FUNCTIONS[function]
        values = []
        for position in positions:
            if position is None:
                values.append(None)
                continue
            argument = node.args[position] if len(node.args) > position else None
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                break  # not a literal: nothing any tool can extract
            values.append(argument.value)
        else:
            found.append(((values[0], values[1], values[2]), node.lineno))
    return found


@pytest.fixture(scope="module")
def python_strings() -> dict[Key, str]:
    strings: dict[Key, str] = {}
    for path in _source_files(".py"):
        for key, line in _python_gettext_calls(path):
            strings.setdefault(key, f"{path.relative_to(ROOT)}:{line}")
    return strings


def test_every_python_string_is_translated(python_strings: dict[Key, str], mo_catalog: dict[object, str]):
    """Runs without GNU gettext. Also catches _("...") inside an f-string, which xgettext 0.21 does not
    extract: makemessages would leave such a string out of django.po and the page would show English."""
    assert python_strings, "found no gettext calls: has the source moved?"
    missing = []
    for (context, msgid, plural), where in sorted(python_strings.items(), key=lambda item: item[1]):
        catalog_id = msgid if context is None else f"{context}\x04{msgid}"
        if (catalog_id if plural is None else (catalog_id, 0)) not in mo_catalog:
            missing.append(f"{where}: {msgid!r}")
    assert not missing, (
        "Strings in the Python source without a compiled Norwegian translation:\n  "
        + "\n  ".join(missing)
        + f"\n{HOW_TO_FIX}\nIf makemessages does not pick a string up, the call is probably inside an f-string; "
        "xgettext can't see it there. Move it out: `word = _('or')` and then `f'... {word} ...'`, or better one "
        "whole sentence with placeholders."
    )


def _copy_source(destination: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory).resolve() == ROOT
        return {
            name
            for name in names
            if name.startswith(".") or name in ("__pycache__", "node_modules") or (top and name in IGNORED_DIRS)
        }

    return Path(shutil.copytree(ROOT, destination, ignore=ignore, symlinks=True))


def test_makemessages_finds_nothing_new(tmp_path: Path, messages: list[Entry], python_strings: dict[Key, str]):
    """Runs the documented makemessages command on a copy of the source tree (the copy's settings point
    LOCALE_PATHS into the copy, so the committed django.po is never touched) and compares the strings it
    extracts with those in the committed django.po."""
    missing_tools = [tool for tool in GETTEXT_TOOLS if shutil.which(tool) is None]
    if missing_tools:
        if os.environ.get("CI") == "true":
            pytest.fail(f"GNU gettext is required in CI, but {', '.join(missing_tools)} is not on PATH")
        pytest.skip(
            f"GNU gettext ({', '.join(missing_tools)}) is not installed, so makemessages can't run here; "
            "the other translation tests still check the catalogue. Install gettext to run this check."
        )
    source = _copy_source(tmp_path / "src")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env |= {"DJANGO_SETTINGS_MODULE": "portal.settings_test", "VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", *MAKEMESSAGES_ARGS, "--keep-pot"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    pot = source / "locale" / "django.pot"
    assert pot.exists(), f"makemessages wrote no {pot.relative_to(source)}:\n{result.stdout}\n{result.stderr}"

    extracted = {entry.key for entry in parse_po(pot.read_text(encoding="utf-8"))} - {(None, "", None)}
    committed = {entry.key for entry in messages}
    new = sorted(extracted - committed, key=str)
    # Strings only the Python scan finds (inside f-strings) are kept by hand until the source is fixed.
    stale = sorted(committed - extracted - set(python_strings), key=str)
    assert not new, (
        "Strings in the source that django.po does not have:\n  " + "\n  ".join(map(_describe, new)) + f"\n{HOW_TO_FIX}"
    )
    assert not stale, (
        "Entries in django.po that are no longer in the source:\n  "
        + "\n  ".join(map(_describe, stale))
        + f"\n{HOW_TO_FIX}"
    )


def _describe(key: Key) -> str:
    context, msgid, plural = key
    return (f"[{context}] " if context is not None else "") + repr(msgid) + (f" / {plural!r}" if plural else "")
