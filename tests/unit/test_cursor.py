"""Cursors: the server's encode/parse and the client's keeper (the same cases as the widget's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webchat_server.errors import BadInput
from webchat_server.realtime.cursor import EMPTY, Keeper, encode, parse, token

CASES = json.loads((Path(__file__).parent / "cursor_cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_keeper(case: dict[str, Any]) -> None:
    keeper = Keeper()
    for step in case["steps"]:
        if "see" in step:
            keeper.see(step["see"])
        else:
            keeper.reset(step["reset"])
    assert keeper.value == case["value"]


def test_encode_sorts_and_skips_unknown_positions() -> None:
    assert encode({2: 5, 1: 3, 4: None}) == "1.3,2.5"
    assert encode({}) == EMPTY == encode({1: None})
    assert token(7, 0) == "7.0"


@pytest.mark.parametrize(("raw", "positions"), [
    (None, None),
    ("", {}),
    ("-", {}),
    ("1.3", {1: 3}),
    ("1.3,1.5,1.4", {1: 5}),
    (" 1.3 , 2.0 ,,-", {1: 3, 2: 0}),
])
def test_parse(raw: str | None, positions: dict[int, int] | None) -> None:
    assert parse(raw) == positions


@pytest.mark.parametrize("raw", ["1", "1.", ".1", "a.1", "1.b", "1.-2", "\u00b2.1", "1.1e3", "1" * 19 + ".1",
                                 "1.3;2.4"])
def test_parse_refuses(raw: str) -> None:
    with pytest.raises(BadInput, match="malformed"):
        parse(raw)


def test_parse_refuses_a_long_cursor_with_where_to_send_it() -> None:
    with pytest.raises(BadInput, match="too long"):
        parse("1.1," * 5000)
    assert parse("1.1," * 5000, max_chars=1 << 20) == {1: 1}


def test_encode_parse_round_trip() -> None:
    positions = {c: c * 3 for c in range(1, 50)}
    assert parse(encode(positions)) == positions
