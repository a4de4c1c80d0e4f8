"""Every event kind, one module each; importing the package registers them all."""

from . import chats, messages, probe, reads, typing
from .registry import KINDS, BadNotification, Batch, Kind, decode, kind_of, register

__all__ = ["KINDS", "BadNotification", "Batch", "Kind", "chats", "decode", "kind_of", "messages", "probe",
           "reads", "register", "typing"]
