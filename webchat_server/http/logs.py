"""Logging: text or JSON lines, a request id on every line of a request, requests counted by route."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TextIO

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

REQUEST_ID_HEADER = "X-Request-Id"
# an id from a proxy (nginx's $request_id) is kept only if it cannot forge or break a log line
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
request_id_key = web.RequestKey("request_id", str)
access_log = logging.getLogger("webchat_server.access")

# attributes every LogRecord has; anything else was passed with extra= and goes into the JSON
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [request_id={rid}]" if rid else line


def handler(log_format: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing text or JSON lines, each with the request id of the request it belongs to."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    out.addFilter(_RequestIdFilter())
    return out


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Root logging to stderr in the chosen format (what systemd's journal or a collector reads)."""
    root = logging.getLogger()
    root.handlers[:] = [handler(log_format)]
    root.setLevel(level)
    # request_context writes the access line itself (with the request id and the route); aiohttp's
    # own access line would be a second, id-less copy
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class RequestStats(Collector):
    """Requests by method, route and status class: a dict increment per request, exported on scrape."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("webchat_http_requests", "HTTP requests by route and status class",
                                     labels=["method", "route", "status"])
        for (method, route, status), n in sorted(self.counts.items()):
            family.add_metric([method, route, status], n)
        yield family


request_stats_key = web.AppKey("request_stats", RequestStats)


def _route(request: web.Request) -> str:
    # the route's pattern, never the raw path: ids and unknown paths would make the labels unbounded
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id (X-Request-Id kept when well formed), count it and log one access line."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    rid = incoming if _VALID_ID.fullmatch(incoming) else secrets.token_hex(8)
    request[request_id_key] = rid
    token = request_id.set(rid)
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        # set here too: behind a trusted proxy the handlers see a clone of the request (with the
        # client's address), so the original that on_response_prepare gets has no id
        if not response.prepared and not isinstance(response, web.WebSocketResponse):
            response.headers[REQUEST_ID_HEADER] = rid
        return response
    except web.HTTPException as e:
        status = e.status
        e.headers[REQUEST_ID_HEADER] = rid
        raise
    finally:
        route = _route(request)
        request.app[request_stats_key].counts[(request.method, route, f"{status // 100}xx")] += 1
        access_log.info("%s %s %s", request.method, request.path, status,
                        extra={"method": request.method, "path": request.path, "route": route, "status": status,
                               "duration_ms": round((time.monotonic() - started) * 1000, 1),
                               "remote": request.remote})
        request_id.reset(token)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every HTTP response (errors and static files too) says its id."""
    rid = request.get(request_id_key)
    # not on WebSocket upgrades: a socket keeps its response headers for its whole life and the
    # extra header measured ~0.7 KB per idle socket; its id is on its log lines all the same
    if rid is not None and not isinstance(response, web.WebSocketResponse):
        response.headers[REQUEST_ID_HEADER] = rid
