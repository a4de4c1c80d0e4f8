"""The event-kind registry: every NOTIFY code the SQL can send has one kind, and each decodes strictly."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from webchat_server.realtime import protocol
from webchat_server.realtime.events import SERVER_EVENTS
from webchat_server.realtime.kinds import KINDS, BadNotification, Kind, decode, kind_of, register
from webchat_server.realtime.kinds.chats import ChatsChanged, ChatsDeleted, Joined, Left
from webchat_server.realtime.kinds.messages import Inserted, MessageRow, Updated
from webchat_server.realtime.kinds.probe import Probe
from webchat_server.realtime.kinds.reads import ReadMoved
from webchat_server.realtime.kinds.typing import Typing

ROOT = Path(__file__).resolve().parents[2]


def _sql_codes() -> set[str]:
    """Every kind code a migration can NOTIFY: notify_rows('x', ...) and pg_notify(... 't', 'x' ...)."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "sql" / "migrations").glob("*.sql")))
    codes = set(re.findall(r"notify_rows\('([a-z])'", text))
    codes |= set(re.findall(r"'t',\s*'([a-z])'", text))
    return codes


def test_every_code_the_sql_sends_has_a_kind() -> None:
    codes = _sql_codes()
    assert codes >= {"m", "u", "c", "d", "j", "l", "r", "y"}  # the grep still finds them
    assert codes <= KINDS.keys(), f"NOTIFY codes without a registered kind: {codes - KINDS.keys()}"


def test_the_probe_code_is_the_listeners() -> None:
    listener = (ROOT / "webchat_server" / "realtime" / "listener.py").read_text()
    assert '"t": "p"' in listener or "'t': 'p'" in listener or '"p"' in listener
    assert KINDS["p"].note is Probe


def test_a_second_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register(Kind("m", Inserted, lambda n: Inserted(())))
    with pytest.raises(ValueError, match="registered twice"):
        register(Kind("z", Inserted, lambda n: Inserted(())))
    assert "z" not in KINDS


def test_every_kind_decodes_its_example_and_is_found_by_its_note() -> None:
    for kind in KINDS.values():
        assert kind.example["t"] == kind.code
        note = decode(json.dumps(kind.example))
        assert isinstance(note, kind.note) and kind_of(note) is kind


def test_every_kind_module_registered_itself() -> None:
    import pkgutil

    from webchat_server.realtime import kinds

    modules = {m.name for m in pkgutil.iter_modules(kinds.__path__)} - {"registry"}
    owners = {k.decode.__module__.rsplit(".", 1)[-1] for k in KINDS.values()}
    assert modules == owners


@pytest.mark.parametrize(("payload", "expected"), [
    ({"t": "m", "r": [[1, 2, 3, 4], [1, 5, 6, 4]]}, Inserted((MessageRow(1, 2, 3, 4), MessageRow(1, 5, 6, 4)))),
    ({"t": "u", "r": [[1, 2, 9, 4]]}, Updated((MessageRow(1, 2, 9, 4),))),
    ({"t": "c", "r": [[5], [6]]}, ChatsChanged((5, 6))),
    ({"t": "d", "r": [[5]]}, ChatsDeleted((5,))),
    ({"t": "j", "r": [[5, 7]]}, Joined(((5, 7),))),
    ({"t": "l", "r": [[5, 7]]}, Left(((5, 7),))),
    ({"t": "r", "r": [[5, 7, 12]]}, ReadMoved(((5, 7, 12),))),
    ({"t": "y", "c": 5, "a": 7, "n": "Ann", "on": False}, Typing(5, 7, "Ann", False)),
    ({"t": "p", "n": "abc"}, Probe("abc")),
])
def test_decodes(payload: dict[str, Any], expected: object) -> None:
    assert decode(json.dumps(payload)) == expected


def test_typing_names_are_cut_to_100() -> None:
    note = decode(json.dumps({"t": "y", "c": 5, "a": 7, "n": "x" * 500, "on": True}))
    assert isinstance(note, Typing) and len(note.name) == 100


@pytest.mark.parametrize(("payload", "kind"), [
    ("not json", "?"),
    ("[1, 2]", "?"),
    ('{"t": "zz", "r": [[1]]}', "?"),
    ('{"t": 5}', "?"),
    ('{"r": [[1]]}', "?"),
    ('{"t": "m"}', "m"),
    ('{"t": "m", "r": []}', "m"),
    ('{"t": "m", "r": [[1, 2, 3]]}', "m"),
    ('{"t": "m", "r": [[1, 2, 3, "4"]]}', "m"),
    ('{"t": "m", "r": [[1, 2, 3, true]]}', "m"),
    ('{"t": "m", "r": [[1, 2, 3, -4]]}', "m"),
    ('{"t": "m", "r": [[1, 2, 3, 9223372036854775808]]}', "m"),
    ('{"t": "c", "r": [5]}', "c"),
    ('{"t": "j", "r": [[5]]}', "j"),
    ('{"t": "r", "r": [[5, 7, 1.5]]}', "r"),
    ('{"t": "y", "c": 5, "a": 7, "n": 3, "on": true}', "y"),
    ('{"t": "y", "c": 5, "a": 7, "n": "Ann", "on": 1}', "y"),
    ('{"t": "y", "c": null, "a": 7, "n": "Ann", "on": true}', "y"),
    ('{"t": "p"}', "p"),
])
def test_refuses(payload: str, kind: str) -> None:
    with pytest.raises(BadNotification) as e:
        decode(payload)
    assert e.value.kind == kind


def test_only_message_kinds_count_rows_for_slicing() -> None:
    assert KINDS["m"].rows(Inserted((MessageRow(1, 2, 3, 4),) * 3)) == 3
    assert KINDS["u"].rows(Updated((MessageRow(1, 2, 3, 4),))) == 1
    assert KINDS["c"].rows(ChatsChanged((1, 2))) == 0


def _js_constants() -> dict[str, Any]:
    text = (ROOT / "web" / "lib" / "protocol.js").read_text()
    out: dict[str, Any] = {}
    for name, value in re.findall(r"export const ([A-Z_]+) = ([^;]+);", text):
        out[name] = json.loads(value.replace("'", '"').replace("_", ""))
    return out


def test_protocol_js_mirrors_protocol_py() -> None:
    js = _js_constants()
    assert js, "no constants found in web/lib/protocol.js"
    for name, value in js.items():
        assert getattr(protocol, name) == value, f"{name}: protocol.js has {value!r}"
    # every Python constant the widget needs is in the mirror (CHANNEL and the resume timeout are the server's)
    shared = {n for n in vars(protocol) if n.isupper()} - {"CHANNEL", "RESUME_FRAME_TIMEOUT"}
    assert shared == js.keys()


def test_every_event_type_is_in_the_readme_and_has_its_schema() -> None:
    from webchat_server.http.openapi import _schemas
    from webchat_server.settings import Settings

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Events"):readme.index("### Cursors")]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    made = set(SERVER_EVENTS) | {t for k in KINDS.values() for t in k.events}
    assert made == documented
    schemas = _schemas(Settings())
    assert set(schemas["Event"]["properties"]["type"]["enum"]) == made
    for kind in KINDS.values():
        assert kind.schema is None or kind.schema in schemas, kind.code
