"""Build hooks: ship sql/ and the built widget from web/ inside the package (webchat_server/_data)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# files under web/ that only the build needs; everything else there is served at /web/
WEB_BUILD_ONLY = {"package.json", "package-lock.json", "build.mjs", "build.js", "webchat.entry.js",
                  "inbox.entry.js", "conversation.entry.js"}
# Lit's runtime, needed only while a shipped page still imports it from /web/node_modules/ (an
# import map) instead of the one-file bundle; production builds only (no development/ or sources)
LIT_PACKAGES = ("lit", "lit-html", "lit-element", "@lit/reactive-element")


def _shipped(path: Path) -> bool:
    parts = path.relative_to(ROOT / "web").parts
    return not (any(p.startswith(".") for p in parts) or "test" in parts or "tests" in parts
                or path.name in WEB_BUILD_ONLY or path.suffix == ".ts")


def data_files() -> list[Path]:
    """The repo-relative files the installed server needs: sql/ and the built widget."""
    files = sorted(p for p in (ROOT / "sql").rglob("*.sql"))
    web = ROOT / "web"
    # a wheel without the bundle would install a server whose widget is missing, silently
    if not (web / "webchat.js").is_file():
        raise SystemExit("web/webchat.js is missing: run `make web` (npm ci and the bundle) before building")
    files += sorted(p for p in web.rglob("*") if p.is_file() and "node_modules" not in p.parts and _shipped(p))
    pages = [p.read_text(errors="replace") for p in web.glob("*.html")]
    if any("/web/node_modules/" in page for page in pages):
        for name in LIT_PACKAGES:
            pkg = web / "node_modules" / name
            if not pkg.is_dir():
                raise SystemExit(f"web/node_modules/{name} is missing: run `make web` before building")
            files += sorted(p for p in pkg.rglob("*") if p.is_file()
                            and not {"development", "node"} & set(p.relative_to(pkg).parts)
                            and (p.suffix == ".js" or p.name in {"package.json", "LICENSE"}))
    return [p.relative_to(ROOT) for p in files]


class BuildPyWithData(build_py):
    """Copy data_files() into webchat_server/_data/ of the build tree (never the source tree)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the repo's sql/ and web/ in place
        target = Path(self.build_lib) / "webchat_server" / "_data"
        shutil.rmtree(target, ignore_errors=True)
        for rel in data_files():
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / rel, dest)


setup(cmdclass={"build_py": BuildPyWithData})
