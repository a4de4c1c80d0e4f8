"""Where sql/ and web/ live: packaged copies in an installed wheel, else the repo's own folders."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# filled at build time by setup.py (build_py); absent in a checkout and in an editable install
PACKAGED = PACKAGE_DIR / "_data"


def data_path(name: str) -> Path:
    """The directory `name` ("sql" or "web"): the packaged copy when there is one, else the repo's."""
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name
