"""Static files under /web/: gzip-compressed once and kept in memory, with Cache-Control and validators."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from aiohttp import hdrs, web

# esbuild's [hash] is 8 characters of base32 (A-Z, 2-7): "webchat-HXQ2ZJ7K.js", "...js.map"
HASHED = re.compile(r"-[A-Z2-7]{8}\.(?:js|css|js\.map|css\.map)$")
IMMUTABLE = "public, max-age=31536000, immutable"
# stable names (webchat.js, the dev modules) may change on any deploy: browsers reuse them for a
# minute, then revalidate with the ETag (a 304 without a body)
SHORT = "public, max-age=60"
# pages revalidate every time, so a deploy's new script names are seen at once
PAGE = "no-cache"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".json", ".map", ".svg", ".txt", ".md"}
# only small files are worth a place in memory; the rest are sent from disk as they are
MAX_CACHED_FILE = 2 * 1024 * 1024
MAX_CACHED_TOTAL = 64 * 1024 * 1024


# a file name longer than this is no file of ours (and the OS refuses it: ENAMETOOLONG)
MAX_NAME_BYTES = 255


def canonical(tail: str) -> bool:
    """True for the one spelling of a path that names a file: `a/b.js`, not `a//b.js`, `/a/b.js`
    (from `%2F`), `a/b.js/`, `./a`, hidden names, a backslash or a NUL. Every other spelling is a
    404: the Content-Security-Policy is chosen by path, and a page served under a second spelling
    went out without it (a same-site page could frame the chat)."""
    if not tail or "\\" in tail or "\0" in tail:
        return False
    parts = tail.split("/")
    return all(p and not p.startswith(".") and len(p.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES
               for p in parts)


@dataclass(frozen=True)
class Entry:
    stamp: tuple[int, int]  # (mtime_ns, size): the file changed when this did
    body: bytes
    gzipped: bytes | None  # None when compression would not make it smaller
    etag: str
    last_modified: str
    mtime: float
    content_type: str
    cache_control: str


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def cache_control(path: Path) -> str:
    if HASHED.search(path.name):
        return IMMUTABLE
    return PAGE if path.suffix.lower() == ".html" else SHORT


def accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            return not (q.startswith("q=") and _qvalue(q[2:]) == 0.0)
    return False


def _qvalue(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return 1.0


def _load(path: Path, stamp: tuple[int, int], mtime: float) -> Entry:
    body = path.read_bytes()
    gzipped: bytes | None = None
    if path.suffix.lower() in COMPRESSIBLE:
        # mtime=0: the same bytes compress to the same bytes, so the gzip ETag stays stable
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return Entry(stamp, body, gzipped, f'"{digest}"', formatdate(mtime, usegmt=True), mtime,
                 content_type(path), cache_control(path))


class StaticFiles:
    """Serves one directory under a URL prefix; each file is read and compressed once per change."""

    def __init__(self, root: Path, hidden: frozenset[str] = frozenset()) -> None:
        self.root = root.resolve()
        self.hidden = hidden
        self.cache: dict[Path, Entry] = {}
        self.cached_bytes = 0

    def resolve(self, tail: str) -> Path | None:
        """The file a URL tail names, or None: no `..`, no hidden files, nothing outside the root,
        and only its one canonical spelling."""
        if not canonical(tail) or tail in self.hidden:
            return None
        try:
            path = (self.root / tail).resolve()
            # resolve() follows symlinks, so a link that leads out of the root is caught here too
            if not path.is_relative_to(self.root) or not path.is_file():
                return None
        except (OSError, ValueError):  # ENAMETOOLONG, ELOOP, ...: not a file we serve
            return None
        return path

    async def entry(self, path: Path) -> Entry | None:
        # a stat is microseconds; a hop to a thread for it would cost more than it saves
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self.cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        if st.st_size > MAX_CACHED_FILE:
            return None
        entry = await asyncio.to_thread(_load, path, stamp, st.st_mtime)
        size = len(entry.body) + len(entry.gzipped or b"")
        if cached is not None:
            self.cached_bytes -= len(cached.body) + len(cached.gzipped or b"")
            del self.cache[path]
        if self.cached_bytes + size <= MAX_CACHED_TOTAL:
            self.cache[path] = entry
            self.cached_bytes += size
        return entry

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = self.resolve(request.match_info["tail"])
        if path is None:
            raise web.HTTPNotFound()
        entry = await self.entry(path)
        if entry is None:
            return web.FileResponse(path, headers={hdrs.CACHE_CONTROL: cache_control(path),
                                                   hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*"})
        use_gzip = entry.gzipped is not None and accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
        etag = entry.etag[:-1] + '-gzip"' if use_gzip else entry.etag
        headers = {
            # public files: a site on another origin loads webchat.js as a module script, which
            # browsers fetch in CORS mode (without cookies, so "*" is enough)
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
            hdrs.CACHE_CONTROL: entry.cache_control,
            hdrs.ETAG: etag,
            hdrs.LAST_MODIFIED: entry.last_modified,
        }
        if entry.gzipped is not None:
            headers[hdrs.VARY] = "Accept-Encoding"
        if not_modified(request, entry, etag):
            return web.Response(status=304, headers=headers)
        body = entry.gzipped if use_gzip and entry.gzipped is not None else entry.body
        if use_gzip:
            headers[hdrs.CONTENT_ENCODING] = "gzip"
        headers[hdrs.CONTENT_TYPE] = entry.content_type
        response = web.Response(body=body, headers=headers)
        return response


def not_modified(request: web.Request, entry: Entry, etag: str) -> bool:
    match = request.headers.get(hdrs.IF_NONE_MATCH)
    if match is not None:
        # weak comparison (RFC 9110 13.1.2); either representation's tag validates, the bytes agree
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags or entry.etag in tags
    since = request.headers.get(hdrs.IF_MODIFIED_SINCE)
    if since is not None:
        try:
            return int(entry.mtime) <= int(parsedate_to_datetime(since).timestamp())
        except (TypeError, ValueError):
            return False
    return False


def add_static(app: web.Application, prefix: str, root: Path, hidden: frozenset[str] = frozenset()) -> StaticFiles:
    """GET and HEAD for every file under `root` at `prefix`, except the names in `hidden` (404)."""
    files = StaticFiles(root, hidden)
    app.router.add_get(prefix.rstrip("/") + "/{tail:.*}", files.handle, name="static")
    return files
