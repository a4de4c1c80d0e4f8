"""Group commit for sends: sends that arrive while a batch commits go together in the next transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ..db import Conn, q
from ..errors import DATABASE_DOWN
from .media import Upload

log = logging.getLogger(__name__)

# a send that another transaction holds up (its chat row, or the same client_id being stored) is
# sent again on its own; these are what a lone send retries on before it gives up with a 409
RETRYABLE = (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError,
             asyncpg.ForeignKeyViolationError)


@dataclass(frozen=True, slots=True)
class Send:
    """One send as webchat.send_messages takes it (sql/migrations/0006_send.sql)."""

    account_id: int
    chat_id: int | None
    text: str
    client_id: str | None
    reply_to: int | None
    # the title a new chat (or a "New chat" getting its first message) takes
    title: str
    upload: Upload | None = None
    # seconds to wait when the rate limit refused it; told only if it is not a retry of a stored send
    limited: float | None = None
    # the session id the sender's cookie names, when the database function is to check it
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of a send: created, duplicate, not_found, conflict, bad_reply, rate_limited,
    no_session (signed out meanwhile), or sequence_behind (the chat's last_seq was rewound by hand:
    every insert collides)."""

    outcome: str
    message: asyncpg.Record | None = None


def _columns(sends: Sequence[Send]) -> list[list[Any]]:
    return [
        [s.account_id for s in sends],
        [s.chat_id for s in sends],
        [s.text for s in sends],
        [s.client_id for s in sends],
        [s.reply_to for s in sends],
        [s.title for s in sends],
        [s.limited for s in sends],
        [s.upload.media_type if s.upload else None for s in sends],
        [s.upload.content_type if s.upload else None for s in sends],
        [s.upload.data if s.upload else None for s in sends],
        [s.session for s in sends],
    ]


class SendQueue:
    """Sends go to Postgres in batches, one transaction each (one NOTIFY, one WAL flush).

    A send that finds no batch committing starts one at once, alone: no added latency at low load.
    Sends that arrive while a batch commits wait for it, then go together, up to `max_batch`
    (after waiting up to `wait` seconds for more, if set). Every send gets its own answer: the
    database function judges each one on its own and writes only the accepted ones. A send with
    an upload goes alone (its bytes would slow the whole batch's commit), and so does one that
    another transaction holds up (answered `busy` by the batch), so a slow chat never holds up
    strangers. One batch at a time per process: batches from one process never wait on each other.
    """

    def __init__(self, pool: asyncpg.Pool, max_batch: int = 64, wait: float = 0.0,
                 on_stored: Callable[[list[asyncpg.Record]], None] | None = None) -> None:
        self.pool = pool
        self.max_batch = max(1, max_batch)
        self.wait = wait
        # told the rows of stored messages as soon as they are committed (the fan-out then needs no
        # fetch for them: realtime.delivery.Delivery.remember)
        self.on_stored = on_stored
        self._queue: list[tuple[Send, asyncio.Future[Stored]]] = []
        self._draining = False
        self._full = asyncio.Event()  # the queue holds a full batch: stop waiting for more
        self._tasks: set[asyncio.Task[None]] = set()
        # counted for /metrics, the tests and the benches
        self.sizes: Counter[int] = Counter()  # batches by the number of sends in them
        self.batches = 0
        self.batched_sends = 0
        self.alone = 0

    async def submit(self, send: Send) -> Stored:
        if send.upload is not None:
            return await self._alone(send)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Stored] = loop.create_future()
        self._queue.append((send, fut))
        if len(self._queue) >= self.max_batch:
            self._full.set()
        if not self._draining:
            self._draining = True
            self._spawn(self._drain())
        return await fut

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for t in tuple(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.wait > 0 and len(self._queue) < self.max_batch:
                    self._full.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), self.wait)
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                self.sizes[len(batch)] += 1
                try:
                    await self._run(batch)
                except BaseException:
                    # stopped mid-batch (shutdown): nobody may wait forever for an answer
                    for _, fut in batch:
                        if not fut.done():
                            fut.cancel()
                    raise
        finally:
            self._draining = False

    async def _run(self, batch: list[tuple[Send, asyncio.Future[Stored]]]) -> None:
        sends = [s for s, _ in batch]
        try:
            async with self.pool.acquire() as conn:
                if len(sends) == 1 and sends[0].chat_id is not None:
                    # the common case (one send at low load, into a chat that exists) in a
                    # function of fewer steps: a third less Postgres time than the general one
                    s = sends[0]
                    rows = await conn.fetch(q("send_one"), s.account_id, s.chat_id, s.text, s.client_id,
                                            s.reply_to, s.title, s.limited, s.session)
                else:
                    rows = await conn.fetch(q("send_messages"), *_columns(sends), False)
                self._stored(rows)
        except DATABASE_DOWN as e:
            for _, fut in batch:
                if not fut.done():  # a handler cancelled meanwhile has cancelled its future
                    fut.set_exception(e)
            return
        except asyncpg.PostgresError as e:
            # something no check foresaw (a row written by SQL meanwhile, a rewound last_seq): the
            # whole transaction rolled back, so each send is tried alone and only the bad one fails
            log.info("a batch of %d sends failed (%s); sending each alone", len(batch), e)
            await asyncio.gather(*(self._alone_into(s, fut) for s, fut in batch))
            return
        self.batches += 1
        self.batched_sends += len(batch)
        # each row is the outcome and the message's columns (message_view's, null when none)
        for (send, fut), row in zip(batch, rows, strict=True):
            if row["outcome"] == "busy":
                self._spawn(self._alone_into(send, fut))
            elif not fut.done():
                fut.set_result(Stored(row["outcome"], row if row["id"] is not None else None))

    def _stored(self, rows: list[asyncpg.Record]) -> None:
        if self.on_stored is not None:
            created = [r for r in rows if r["outcome"] == "created"]
            if created:
                self.on_stored(created)

    async def _alone_into(self, send: Send, fut: asyncio.Future[Stored]) -> None:
        try:
            result = await self._alone(send)
        except Exception as e:  # the waiting handler turns it into its answer (503 for an outage)
            if not fut.done():
                fut.set_exception(e)
            return
        if not fut.done():
            fut.set_result(result)

    async def _alone(self, send: Send) -> Stored:
        """One send in its own transaction, waiting for whatever holds its chat or client_id."""
        self.alone += 1
        for _ in range(3):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    rows = await conn.fetch(q("send_messages"), *_columns([send]), True)
                    rows = await _with_audio(conn, send, rows)
                self._stored(rows)
            except asyncpg.UniqueViolationError as e:
                if e.constraint_name == "messages_chat_seq":
                    return Stored("sequence_behind")
                continue  # a writer outside the API stored this client_id meanwhile: the next try sees it
            except RETRYABLE:
                continue
            row = rows[0]
            return Stored(row["outcome"], row if row["id"] is not None else None)
        return Stored("conflict_row")


async def _with_audio(conn: Conn, send: Send, rows: list[Any]) -> list[Any]:
    """Store what was read from an audio upload in the send's own transaction, so the message is
    never seen (answered, fanned out, replayed) without its duration and waveform."""
    audio = send.upload.audio if send.upload is not None else None
    if audio is None or rows[0]["outcome"] != "created":
        return rows
    row = rows[0]
    info = await conn.fetchval(q("media_set_audio"), row["media_id"], audio.voice, audio.duration_ms,
                               audio.client_duration_ms, audio.waveform)
    return [{**dict(row), "media_info": info}]


class SendMetrics(Collector):
    """/metrics: how sends reach Postgres (read when scraped, nothing on the send path)."""

    def __init__(self, queue: SendQueue) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        q = self.queue
        yield CounterMetricFamily("webchat_send_batches", "Transactions that stored a batch of sends (group commit)",
                                  q.batches)
        yield CounterMetricFamily("webchat_sends_batched", "Sends that went to Postgres in a batch", q.batched_sends)
        yield CounterMetricFamily("webchat_sends_alone", "Sends sent on their own (uploads, sends another "
                                  "transaction held up, sends of a batch that failed as a whole)", q.alone)

send_queue_key = web.AppKey("send_queue", SendQueue)
