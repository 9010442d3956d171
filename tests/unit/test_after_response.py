"""after_response: a completion's record and charge written once its answer is sent, never lost."""

from __future__ import annotations

import asyncio

import pytest

from routeway.after_response import after_response, later, written


def test_without_a_scope_a_write_happens_at_once() -> None:
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    async def main() -> None:
        await later(write)
        assert done == ["written"]

    asyncio.run(main())


def test_inside_a_scope_writes_wait_for_its_end_and_keep_their_order() -> None:
    done: list[str] = []

    def writer(name: str):  # type: ignore[no-untyped-def]
        async def write() -> None:
            done.append(name)

        return write

    async def main() -> None:
        async with after_response():
            await later(writer("record"))
            await later(writer("charge"))
            assert done == []  # the answer is still being sent
            done.append("answer sent")
        assert done == ["answer sent", "record", "charge"]

    asyncio.run(main())


def test_the_writes_run_when_the_answer_failed_and_one_failing_write_does_not_stop_the_next() -> None:
    done: list[str] = []

    async def broken() -> None:
        raise RuntimeError("store down")

    async def fine() -> None:
        done.append("charge")

    async def main() -> None:
        with pytest.raises(ValueError):
            async with after_response():
                await later(broken)
                await later(fine)
                raise ValueError("the client went away")
        assert done == ["charge"]

    asyncio.run(main())


def test_a_write_made_after_the_scope_ended_is_not_dropped() -> None:
    """A stream's late charge runs in a task that outlives the request: it writes at once."""
    done: list[str] = []

    async def write() -> None:
        done.append("late charge")

    async def main() -> None:
        held: list[asyncio.Task[None]] = []
        async with after_response():
            gate = asyncio.Event()

            async def background() -> None:
                await gate.wait()
                await later(write)

            held.append(asyncio.ensure_future(background()))
        gate.set()
        await held[0]
        assert done == ["late charge"]

    asyncio.run(main())


def test_the_writes_finish_even_if_the_request_is_cancelled_and_written_waits_for_them() -> None:
    done: list[str] = []

    async def main() -> None:
        store_answers = asyncio.Event()

        async def slow_write() -> None:
            await store_answers.wait()
            done.append("charged")

        async def request() -> None:
            async with after_response():
                await later(slow_write)

        task = asyncio.ensure_future(request())
        for _ in range(5):  # the request ends its block; its write is now running, blocked on the store
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reader = asyncio.ensure_future(written())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not reader.done() and done == []  # a reader of spend waits for the write in flight
        store_answers.set()
        await reader
        assert done == ["charged"]

    asyncio.run(main())
