"""The listener's own health probe ('p'): decoded here, answered by the listener, never delivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .registry import BadNotification, Kind, register


@dataclass(frozen=True, slots=True)
class Probe:
    """p: the listener's own health probe."""

    nonce: str


def _decode(note: dict[str, Any]) -> Probe:
    nonce = note.get("n")
    if not isinstance(nonce, str):
        raise BadNotification("p", "'n' is not a string")
    return Probe(nonce)


register(Kind("p", Probe, _decode, example={"t": "p", "n": "nonce"}))
