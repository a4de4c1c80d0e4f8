"""Shapes written once: message fields, settings and their README tables, frames."""

from __future__ import annotations

import re
import struct
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from webchat_server.domain.model import MESSAGE_FIELDS, chat_json, message_json
from webchat_server.realtime.frames import text_frame
from webchat_server.settings import ENV, RATE_DEFAULTS, Rate, Settings

from .fakes import NOW, chat_row, message_row

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_message_json_has_the_table_fields_in_order() -> None:
    assert list(message_json(message_row(1, 2, 3))) == [name for name, _s in MESSAGE_FIELDS]  # type: ignore[arg-type]


def test_the_readme_lists_the_message_fields() -> None:
    listed = re.search(r"Message JSON: `([^`]+)`", README)
    assert listed is not None
    assert [f.strip() for f in listed.group(1).split(",")] == [name for name, _s in MESSAGE_FIELDS]


def test_the_openapi_message_schema_is_the_table() -> None:
    from webchat_server.http.openapi import _schemas

    schema = _schemas(Settings())["Message"]
    assert schema["required"] == [name for name, _s in MESSAGE_FIELDS]


def test_a_deleted_message_keeps_no_content() -> None:
    m = message_json(message_row(1, 2, 3, text="secret", deleted=True, media_id=4, media_type="image"))  # type: ignore[arg-type]
    assert (m["text"], m["media_type"], m["media_url"], m["deleted"]) == ("", None, None, True)
    live = message_json(message_row(1, 2, 3, media_id=4, media_type="image", sender_kind="bot"))  # type: ignore[arg-type]
    assert live["media_url"] == "/webchat/media/4" and live["is_outgoing"] and live["timestamp"] == NOW.isoformat()


def test_chat_json_with_and_without_unread() -> None:
    row: dict[str, Any] = chat_row(5)
    assert "unread_count" not in chat_json(row)
    row.update(unread_count=2, last_read_seq=1, last_message=message_row(1, 5, 1))
    chat = chat_json(row)
    assert chat["unread_count"] == 2 and chat["last_message"]["id"] == 1


def _readme_settings() -> set[str]:
    table = README[README.index("## Configuration"):README.index("## Embedding the widget")]
    names: set[str] = set()
    for cell in re.findall(r"^\| ([^|]+) \|", table, re.M):
        names.update(re.findall(r"`([A-Z0-9_<>]+)`", cell))
    return names


def test_every_setting_read_from_the_environment_is_in_the_readme_and_back() -> None:
    read = {var for _f, var, _p in ENV} | {"WEBCHAT_LIMIT_<NAME>"}
    assert read == _readme_settings()


def test_every_table_row_names_a_field_with_a_default() -> None:
    names = {f.name for f in fields(Settings)}
    assert all(field in names for field, _v, _p in ENV)
    assert len({field for field, _v, _p in ENV}) == len(ENV)


def test_unset_variables_give_the_field_defaults() -> None:
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"WEBCHAT_PORT": "9000"}, "port", 9000),
    ({"WEBCHAT_SEND_BATCH_WAIT_MS": "5"}, "send_batch_wait", 0.005),
    ({"WEBCHAT_SEND_BATCH_MAX": "0"}, "send_batch_max", 1),
    ({"WEBCHAT_RATE_LEASE_SECONDS": "-3"}, "rate_lease_seconds", 0.0),
    ({"WEBCHAT_POLL_MAX_TIMEOUT": "3"}, "poll_default_timeout", 3.0),
    ({"WEBCHAT_MIGRATE_ON_START": "0"}, "migrate_on_start", False),
    ({"WEBCHAT_LEGACY_IDENTIFY": "yes"}, "legacy_identify", True),
    ({"WEBCHAT_ALLOWED_ORIGINS": "https://a.example/, https://b.example"}, "allowed_origins",
     ("https://a.example", "https://b.example")),
    ({"WEBCHAT_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16"}, "trusted_proxies", ("10.0.0.1/32", "10.1.0.0/16")),
    ({"WEBCHAT_STATEMENT_CACHE_SIZE": "0"}, "statement_cache_size", 0),
    ({"WEBCHAT_EVENT_LOOP": "asyncio"}, "event_loop", "asyncio"),
])
def test_from_env(env: dict[str, str], field: str, value: Any) -> None:
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize("env", [
    {"WEBCHAT_PORT": "x"}, {"WEBCHAT_HEADER_TIMEOUT": "soon"}, {"WEBCHAT_EVENT_LOOP": "trio"},
    {"WEBCHAT_LEGACY_IDENTIFY": "maybe"}, {"WEBCHAT_MIGRATE_ON_START": "yes"}, {"WEBCHAT_SESSION_MAX_AGE": "5"},
    {"WEBCHAT_IDENTITY_SECRET": "short"}, {"WEBCHAT_TRUSTED_PROXIES": "not-an-ip"},
    {"WEBCHAT_LIMIT_SENDS_PER_ACCOUNT": "fast"},
])
def test_from_env_refuses(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit):
        Settings.from_env(env)


def test_rates_parse_and_scale() -> None:
    assert Rate.parse("120/min:30") == Rate(120, 60, 30)
    assert Rate.parse("100M/h:25M") == Rate(100 * 1024**2, 3600, 25 * 1024**2)
    assert Rate.parse("off") is None
    s = Settings.from_env({"WEBCHAT_LIMIT_EDITS_PER_ACCOUNT": "off", "WEBCHAT_RATE_LIMIT_SCALE": "10"})
    assert s.rate("edits_per_account") is None
    assert s.rate("chats_per_account") == RATE_DEFAULTS["chats_per_account"].scaled(10)  # type: ignore[union-attr]


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_text_frames(n: int) -> None:
    frame = text_frame(b"x" * n)
    assert frame[0] == 0x81 and frame.endswith(b"x" * n)
    if n < 126:
        assert frame[1] == n
    elif n < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == n
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == n
