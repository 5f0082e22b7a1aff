"""Documents from outside are measured before any parser sees them: size, then nesting
depth by a scan that skips strings and comments; every problem is a BadInput that names
the place, never a crash, a RecursionError or a hang."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinko.errors import BadInput, InputFileError, TooDeep, TooLarge
from kinko.safeload import (
    MAX_DEPTH,
    bounded_lines,
    check_json_depth,
    check_json_keys,
    check_tree,
    check_yaml,
    column_twice,
    decode_json_bytes,
    loads_json,
    loads_toml,
    loads_yaml,
    open_text,
    read_bounded,
    read_text,
    whole_number,
)

DEEP = "[" * 80_000 + "]" * 80_000

# strings that try to hide or fake brackets: quotes, escapes, brackets, non-ASCII
tricky = st.text(alphabet=st.sampled_from('[]{}"\\/ab\n\t\u00e9\u3042\U0001f600'),
                 max_size=12)
scalars = st.none() | st.booleans() | st.integers(-10**30, 10**30) | tricky


def nested(depth: int, inner: Any) -> Any:
    value = inner
    for i in range(depth):
        value = [value] if i % 2 else {"k[": value, "\"}": "]"}
    return value


def test_a_small_document_reads_as_json_does() -> None:
    assert loads_json('{"a": [1, "x"], "b": null}', "e.json") == {"a": [1, "x"], "b": None}
    assert loads_json(b'{"a": 1.50}', "e.json") == {"a": Decimal("1.50")}


@pytest.mark.parametrize("text", [DEEP, '{"a":' * 70_000, "[" * 65 + "]" * 65],
                         ids=["mixed", "objects", "arrays"])  # short ids: see conftest
def test_deep_json_is_refused_where_it_gets_too_deep(text: str) -> None:
    with pytest.raises(TooDeep, match=r"^body:1:\d+: nested more than 64 levels deep"):
        loads_json(text, "body")


def test_the_depth_limit_is_exact_and_strings_do_not_count() -> None:
    at_limit = nested(MAX_DEPTH, "[[[{{{")
    assert loads_json(json.dumps(at_limit), "x") == at_limit
    with pytest.raises(TooDeep):
        loads_json(json.dumps(nested(MAX_DEPTH + 1, 1)), "x")
    # brackets inside strings, escaped quotes and backslashes never count
    assert loads_json(json.dumps(["[" * 1000, '\\"[[[' * 100]), "x")[0] == "[" * 1000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, MAX_DEPTH + 3), scalars, st.booleans())
def test_depth_is_measured_exactly_whatever_the_strings_hold(depth: int, inner: Any,
                                                            ascii_only: bool) -> None:
    value = nested(depth, inner)
    text = json.dumps(value, ensure_ascii=ascii_only)
    if depth > MAX_DEPTH:
        with pytest.raises(TooDeep):
            check_json_depth(text, "x")
    else:
        assert loads_json(text.encode(), "x") == value


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet='[]{}"\\ a', max_size=120), st.integers(1, 6))
def test_the_depth_found_with_strings_taken_out_at_once_is_the_walks(text: str,
                                                                   depth: int) -> None:
    """Strings are taken out in one pass before the brackets are counted; a walk string by
    string (the way the place of the refusal is found) decides the same, whatever quotes,
    escapes and brackets the text holds, valid JSON or not."""
    from kinko.safeload import _JSON_SKIP, _scan

    def refused(check: Any) -> bool:
        try:
            check()
        except TooDeep:
            return True
        return False

    assert refused(lambda: check_json_depth(text, "x", depth)) == refused(
        lambda: _scan(text, _JSON_SKIP, "x", depth)), text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_a_value_or_a_bad_input(data: bytes) -> None:
    with contextlib.suppress(BadInput):
        loads_json(data, "body")


def test_what_the_parser_decodes_is_what_was_scanned() -> None:
    """UTF-16 is recognised by its zero bytes, as json.loads does: brackets hidden from a
    UTF-8 reading (inside what looks like a string there) are still counted."""
    deep16 = ('["\u2222"' + "[" * 100).encode("utf-16-le")
    assert decode_json_bytes(deep16, "x").startswith('["\u2222"[[[')
    with pytest.raises(TooDeep):
        loads_json(deep16, "body")
    with pytest.raises(BadInput, match="not UTF-8"):
        loads_json(b'{"a": "\xff"}', "body")


def test_a_byte_order_mark_is_refused_in_an_operators_words() -> None:
    """Python's message told the operator to "decode using utf-8-sig"."""
    with pytest.raises(BadInput) as caught:
        loads_json('\ufeff{"a": 1}', "s.json")
    assert str(caught.value) == ("s.json:1:1: not valid JSON: the text begins with a "
                                 "byte-order mark (BOM); save it as UTF-8 without one")


def test_numbers_are_exact_and_nan_is_refused() -> None:
    assert loads_json("[1e400, 0.1]", "x") == [Decimal("1e400"), Decimal("0.1")]
    for text in ("NaN", "[Infinity]", "-Infinity"):
        with pytest.raises(BadInput, match="not a number JSON allows"):
            loads_json(text, "x")
    with pytest.raises(BadInput, match="x: not valid JSON: a number has more than 4,300 dig"):
        loads_json("9" * 5000, "x")
    with pytest.raises(BadInput, match=r"^x:2:3: not valid JSON"):
        loads_json('{"a":\n  }', "x")


def test_size_is_checked_before_anything_else(tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match="larger than 10 bytes"):
        loads_json(b"[" + b" " * 20 + b"]", "body", max_bytes=10)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2000)
    with pytest.raises(TooLarge, match=r"big\.json: larger than 1,000 bytes"):
        read_bounded(big, 1000)
    with pytest.raises(InputFileError, match="cannot read"):
        read_bounded(tmp_path / "missing.json")
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xffno")
    with pytest.raises(InputFileError, match=r"bad.txt:2: not UTF-8 text \(byte 3\)"):
        read_text(tmp_path / "bad.txt")


def test_regular_files_and_pipes_are_read_and_nothing_else(tmp_path: Path,
                                                          no_hang: None) -> None:
    """A device never ends: it is refused by what it is, as a directory is, before a byte
    is read. A pipe is read as it is written; a FIFO that no writer holds open would make
    ``open`` wait forever: it reads as empty at once."""
    with pytest.raises(InputFileError, match=r"zero: cannot read: a character device, "
                       "not a regular file") as caught:
        read_bounded(Path("/dev/zero"))
    assert caught.value.said().id == "error.not_a_regular_file"
    with pytest.raises(BadInput, match="cannot read: a directory, not a regular file"):
        read_text(tmp_path, error=BadInput)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_bounded(fifo) == b""
    with open_text(fifo) as fh:
        assert fh.read() == ""
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, b"{\"a\": 1}"), os.close(w)))
    writer.start()
    try:
        assert read_bounded(Path(f"/proc/self/fd/{r}")) == b'{"a": 1}'
    finally:
        writer.join()
        os.close(r)
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "real.json")
    (tmp_path / "real.json").write_text("{}")
    assert read_bounded(link) == b"{}"  # a link to a file is that file


def test_a_line_is_read_within_its_bound(tmp_path: Path) -> None:
    """A file read line by line (CSV, JSON lines) never holds more than one bounded line: a
    file without line ends is refused at its first line, not read whole into memory."""
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbfh\r\n" + b"x" * 100 + b"\nok\n")
    with open_text(path) as fh:
        lines = bounded_lines(fh, "a.csv", max_chars=10)
        assert next(lines) == "h\r\n"  # the byte-order mark dropped, the line end kept
        with pytest.raises(InputFileError, match=r"^a.csv:2: a line longer than 10 charac"):
            next(lines)
    with open_text(path) as fh:
        assert list(bounded_lines(fh, "a.csv"))[1:] == ["x" * 100 + "\n", "ok\n"]


def test_toml_is_bounded_by_brackets_and_by_dotted_keys() -> None:
    assert loads_toml('a = [[1], {b = "]]]"}] # [[[[\n', "p.toml") == \
        {"a": [[1], {"b": "]]]"}]}
    with pytest.raises(TooDeep, match=r"^p.toml:1:\d+: nested more than 64"):
        loads_toml("a = " + "[" * 80_000, "p.toml")
    with pytest.raises(TooDeep, match=r"p.toml:1:\d+: nested more than 64"):
        loads_toml("a = " + "{b = " * 30_000 + "1" + "}" * 30_000, "p.toml")
    # a dotted key too long is refused where it starts, before the parser (which keeps
    # every prefix of it: 30,000 parts took 8 s and 3.6 GB), bare, quoted or a table's
    for text, place in (("x = 1\n" + "a" + ".b" * 3_000 + " = 1", "2:1"),
                        ('x = "."\n' + '"a".' * 3_000 + "'b' = 1", "2:1"),
                        ("# a.b.c\n[t]\n[" + "a . " * 3_000 + "b]", "3:2")):
        with pytest.raises(TooDeep, match=rf"^p.toml:{place}: nested more than 64"):
            loads_toml(text, "p.toml")
    key = ".".join(["k"] * 60)
    assert loads_toml(f'{key} = 1.5\nv = "{"." * 100}"\n', "p.toml")["v"] == "." * 100
    # brackets in every kind of TOML string and in comments do not count
    hidden = "[" * 100
    text = (f'a = "{hidden}"\nb = \'{hidden}\'\nc = """\n{hidden}\n"""\n'
            f"d = '''{hidden}'''\n# {hidden}\n")
    assert loads_toml(text, "p.toml")["a"] == hidden
    with pytest.raises(InputFileError, match=r"p\.toml: not valid TOML"):
        loads_toml("a = [1,", "p.toml")


def test_yaml_is_bounded_as_it_is_read() -> None:
    assert loads_yaml("tags:\n  - address: '0x1'\n    label: \"[x]\"\n", "t.yaml") == \
        {"tags": [{"address": "0x1", "label": "[x]"}]}
    for text in (DEEP, "- " * 100 + "x", "a:\n" + "".join(" " * i + "b:\n"
                                                          for i in range(1, 80))):
        with pytest.raises(TooDeep, match=r"^t.yaml:\d+:\d+: nested more than 64"):
            loads_yaml(text, "t.yaml")
    laughs = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdef", "bcdefg", strict=True))
    with pytest.raises(TooLarge, match="once its aliases are expanded"):
        loads_yaml(laughs, "t.yaml")
    with pytest.raises(TooDeep):
        loads_yaml("&a [*a]", "t.yaml")  # a list that holds itself
    with pytest.raises(InputFileError, match=r"^t.yaml:2: not valid YAML"):
        loads_yaml("a: [1, 2\nb: x", "t.yaml")
    with pytest.raises(TypeError):
        loads_yaml("a: 1", "t.yaml", loader=yaml.FullLoader)  # not a safe loader


@pytest.mark.parametrize("loader", [yaml.SafeLoader, yaml.CSafeLoader])
def test_libyaml_is_bounded_the_same_way(loader: Any) -> None:
    """libyaml's composer recurses in C: its events are counted in a first pass."""
    assert loads_yaml("tags:\n  - {address: '0x1'}\n", "t.yaml", loader=loader) == \
        {"tags": [{"address": "0x1"}]}
    with pytest.raises(TooDeep, match=r"^t.yaml:1:\d+: nested more than 64"):
        loads_yaml(DEEP, "t.yaml", loader=loader)
    events = check_yaml("a: [1, 2]", "t.yaml", loader=loader)
    assert events == 11  # stream, document, mapping, a, sequence, 1, 2, and four ends
    laughs = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdef", "bcdefg", strict=True))
    with pytest.raises(TooLarge):
        loads_yaml(laughs, "t.yaml", loader=loader)
    with pytest.raises(TooDeep):
        check_tree(yaml.load("&a [*a]", Loader=loader), "t.yaml", max_nodes=100)
    with pytest.raises(InputFileError, match=r"^t.yaml:2: not valid YAML"):
        check_yaml("a: [1, 2\nb: x", "t.yaml", loader=loader)


@pytest.mark.parametrize("loader", [yaml.SafeLoader, yaml.CSafeLoader])
def test_a_yaml_key_given_twice_is_refused_with_both_lines(loader: Any) -> None:
    """PyYAML kept the last of two values of one key without a word; a reader from the top
    (or another tool) takes the first."""
    with pytest.raises(InputFileError) as caught:
        loads_yaml("tags:\n- address: '0x1'\n  label: a\n  address: '0x2'\n", "t.yaml",
                   loader=loader)
    assert str(caught.value) == ("t.yaml:4: the key 'address' is given again in one mapping "
                                 "(first on line 2; YAML readers disagree on which value "
                                 "it holds)")
    with pytest.raises(InputFileError, match=r"^t.yaml:1: the key 'a' is given again"):
        loads_yaml("{a: 1, b: 2, a: 3}", "t.yaml", loader=loader)  # on one line
    with pytest.raises(InputFileError, match=r"^t.yaml:3: the key 'x'"):
        loads_yaml("- &m {x: 1}\n- *m\n- {x: 1, x: 2}\n", "t.yaml", loader=loader)
    # what a merge brings in may be overridden; equal text of another kind is another key
    assert loads_yaml("base: &b {x: 1, y: 2}\nover: {<<: *b, x: 3}\n", "t.yaml",
                      loader=loader)["over"] == {"x": 3, "y": 2}
    assert loads_yaml("1: a\n'1': b\n", "t.yaml", loader=loader) == {1: "a", "1": "b"}
    assert loads_yaml("- {a: 1}\n- {a: 2}\n", "t.yaml", loader=loader) == [{"a": 1},
                                                                            {"a": 2}]


@pytest.mark.parametrize("loader", [yaml.SafeLoader, yaml.CSafeLoader])
def test_a_character_yaml_does_not_allow_is_named_by_its_line(loader: Any) -> None:
    """A NUL or a control character in a TagPack was refused in PyYAML's words: its
    position in the text, on a second line, "in <unicode string>", no line of the file."""
    for text in ("title: x\ntags:\n- address: a\x00b\n", "title: x\ntags: []\n\x07\n"):
        with pytest.raises(InputFileError) as caught:
            loads_yaml(text, "t.yaml", loader=loader)
        assert str(caught.value).startswith("t.yaml:3: not valid YAML: unacceptable "
                                            "character #x00"), str(caught.value)
        assert "\n" not in str(caught.value) and "unicode string" not in str(caught.value)


@pytest.mark.slow
def test_deep_input_does_not_crash_under_a_raised_recursion_limit() -> None:
    """py-evm raises the recursion limit to 100,000, where json.loads of 80,000 brackets
    overflows the C stack (a segmentation fault): the bounded loader refuses it first."""
    code = ("import sys, py_ecc, json\n"
            "assert sys.getrecursionlimit() >= 100000\n"
            "from kinko.safeload import loads_json, loads_toml, loads_yaml\n"
            "from kinko.errors import TooDeep\n"
            "deep = '[' * 80000 + ']' * 80000\n"
            "for load in (loads_json, loads_toml, loads_yaml):\n"
            "    try:\n"
            "        load(deep if load is not loads_toml else 'a = ' + deep, 'x')\n"
            "    except TooDeep:\n"
            "        print('refused')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["refused"] * 3


@pytest.mark.parametrize(("text", "number"), [
    ("0", 0), ("42", 42), (" 7 ", 7), ("9" * 18, int("9" * 18)), ("9" * 19, None),
    ("", None), (None, None), ("²", None), ("٣", None), ("1_000", None), ("-1", None),
    ("+1", None), ("1.0", None), ("0x10", None)])
def test_a_whole_number_is_ascii_digits_and_no_more_of_them_than_allowed(
        text: str | None, number: int | None) -> None:
    assert whole_number(text) == number


def test_an_object_that_names_a_key_twice_is_refused() -> None:
    """Parsers disagree on which value such an object holds (Python's the last, others the
    first or an error): a proxy, a log or a customer's verifier could read another
    document than kinko. The same key in two objects is two keys."""
    with pytest.raises(BadInput, match=r"^entry.json: the key 'amount' is given twice in "
                       "one object") as caught:
        loads_json('{"amount": "1", "amount": "1000000"}', "entry.json")
    assert caught.value.said().id == "error.json_key_twice"
    with pytest.raises(InputFileError, match="the key 'k' is given twice"):
        loads_json('[{"a": {"k": 1, "j": 2, "k": 1}}]', "f", error=InputFileError)
    with pytest.raises(BadInput, match="the key '" + "x" * 57 + r"\.\.\.' is given"):
        loads_json(json.dumps({"x" * 500: 1})[:-1] + ", " + json.dumps("x" * 500) + ": 2}",
                   "f")
    assert loads_json('[{"k": 1}, {"k": 2, "j": {"k": 3}}]', "f") == [
        {"k": 1}, {"k": 2, "j": {"k": 3}}]
    check_json_keys('{"k": 1, "j": 2}', "body")
    check_json_keys('{"k": 1, "k": ', "body")  # not JSON: the parser's to refuse
    with pytest.raises(BadInput, match=r"^body: the key 'k' is given twice"):
        check_json_keys('{"k": 1, "k": 2}', "body")


def test_a_header_naming_a_column_twice_is_found_with_both_positions() -> None:
    assert column_twice(["a", "b", "a", "b"]) == ("a", 1, 3)
    assert column_twice(["a", "b", "a", "b"], read={"b"}) == ("b", 2, 4)
    assert column_twice(["a", "x", "x"], read={"a"}) is None  # a column nobody reads
    assert column_twice(["a", "b"]) is None


def test_the_first_byte_that_is_no_utf8_is_found_on_its_line(tmp_path: Path) -> None:
    """A text reader's error says where in its buffer: a CSV's header reader named line 1
    for a Latin-1 byte on line 2. Chunks are 1 MiB: a character across two of them is
    whole, one cut short by the file's end is not."""
    from kinko.safeload import first_bad_utf8

    cases = {b"ok\nline2\xe9\n": (2, 8), b"fine\n": None, b"ab\ncd\xe6\x97": (2, 5),
             b"a" * ((1 << 20) - 1) + "日".encode() + b"\n\n\xff": (3, (1 << 20) + 4)}
    for data, where in cases.items():
        (tmp_path / "f").write_bytes(data)
        assert first_bad_utf8(tmp_path / "f") == where, data[:20]


def test_a_transfers_file_names_the_line_of_its_bad_byte(tmp_path: Path) -> None:
    from kinko.chains.tracefiles import load_account
    from kinko.errors import InputFileError

    path = tmp_path / "l.csv"
    path.write_bytes(b"tx_hash,block,tx_index,from,to,value\n0x1,1,0,a,b\xe9,5\n")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    assert str(caught.value).startswith(f"{path}:2: not UTF-8 text"), caught.value
