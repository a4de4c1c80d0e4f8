"""Every event kind, one module each; importing the package imports (and so registers) them all."""

import importlib
import pkgutil

from .registry import KINDS, BadNotification, Batch, Kind, decode, kind_of, register

# a new kind is a new module here and nothing else in this package
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "BadNotification", "Batch", "Kind", "decode", "kind_of", "register"]
