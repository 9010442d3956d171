"""An async iterator read by a task of its own, with a None each time it has been quiet for a while.

A stream's relay waits for the upstream's next event or a keep-alive interval, whichever comes first. Done as
a task and an `asyncio.wait` per event, that wait was a fifth of the CPU of every relayed chunk (bench/NOTES.md):
here one task reads the source for the whole stream and hands its items over (a few ahead at most), and one
timer per stream (re-armed only when it fires, never per item) puts a None in when nothing came for
`interval()` seconds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

T = TypeVar("T")
AHEAD = 8  # items read ahead of the reader at most: a slow client slows the reading of the upstream
_END = object()


async def paced(source: AsyncIterator[T], interval: Callable[[], float]) -> AsyncIterator[T | None]:
    """`source`'s items in order, and None whenever `interval()` seconds (asked again each time) passed since the
    later of the last item and the last None. The source's exception is raised here, where its item would be."""
    loop = asyncio.get_running_loop()
    items: deque[tuple[Any, BaseException | None]] = deque()
    reader: asyncio.Future[None] | None = None  # the reader waiting for an item
    room: asyncio.Future[None] | None = None  # the pump waiting for the reader to catch up
    mark = loop.time()  # the last item or None
    timer: asyncio.TimerHandle | None = None

    def hand(item: Any, error: BaseException | None = None) -> None:
        items.append((item, error))
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def pump() -> None:
        nonlocal mark, room
        try:
            async for item in source:
                mark = loop.time()
                hand(item)
                if len(items) >= AHEAD:
                    room = loop.create_future()
                    await room
        except Exception as exc:  # the reader raises it
            hand(_END, exc)
            return
        hand(_END)

    def tick() -> None:
        nonlocal mark, timer
        now = loop.time()
        due = mark + interval()
        if now >= due:
            if len(items) < AHEAD:
                hand(None)
            mark = now
            due = now + interval()
        timer = loop.call_at(max(due, now + 0.001), tick)

    task = loop.create_task(pump())
    timer = loop.call_at(mark + interval(), tick)
    try:
        while True:
            if not items:
                reader = loop.create_future()
                await reader
            item, error = items.popleft()
            if room is not None and not room.done():
                room.set_result(None)
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        if timer is not None:
            timer.cancel()
        task.cancel()
