"""The unit of work: it owns the commit, and after-commit effects run only after a commit."""

from __future__ import annotations

from typing import Any

import pytest

from api.core.uow import UnitOfWork


class FakeSession:
    """What a unit of work asks of a session, recorded."""

    def __init__(self, log: list[str], *, fail_commit: bool = False, idle: bool = False) -> None:
        self.log = log
        self.fail_commit = fail_commit
        self.idle = idle
        """No transaction under way (yet): the first statement opens one."""
        self.open = True

    async def commit(self) -> None:
        if self.fail_commit:
            self.log.append("commit failed")
            raise RuntimeError("the database refused the commit")
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    def in_transaction(self) -> bool:
        return not self.idle

    async def begin_nested(self) -> FakeSavepoint:
        self.log.append("savepoint")
        return FakeSavepoint(self.log)

    async def close(self) -> None:
        self.open = False
        self.log.append("close")


class FakeSavepoint:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.is_active = True

    async def commit(self) -> None:
        self.is_active = False
        self.log.append("release")

    async def rollback(self) -> None:
        self.is_active = False
        self.log.append("rollback to savepoint")


def unit(log: list[str], **options: Any) -> UnitOfWork:
    return UnitOfWork(lambda: FakeSession(log, **options))  # type: ignore[arg-type,return-value]


def effect(log: list[str], name: str) -> Any:
    async def run() -> None:
        log.append(name)

    return run


async def test_leaving_the_block_commits_then_runs_the_effects_in_order() -> None:
    log: list[str] = []
    async with unit(log) as uow:
        uow.after_commit(effect(log, "invalidate"))
        uow.after_commit(effect(log, "wake"))
        log.append("work")
    assert log == ["work", "commit", "invalidate", "wake", "close"]


async def test_an_exception_rolls_back_and_no_effect_runs() -> None:
    log: list[str] = []

    async def refused_use_case() -> None:
        async with unit(log) as uow:
            uow.after_commit(effect(log, "invalidate"))
            raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await refused_use_case()
    assert log == ["rollback", "close"]


async def test_a_failed_commit_runs_no_effect() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="refused the commit"):
        async with unit(log, fail_commit=True) as uow:
            uow.after_commit(effect(log, "invalidate"))
    assert "invalidate" not in log
    assert log[-1] == "close"


async def test_an_explicit_rollback_forgets_the_effects_registered_before_it() -> None:
    log: list[str] = []
    async with unit(log) as uow:
        uow.after_commit(effect(log, "dropped"))
        await uow.rollback()
        uow.after_commit(effect(log, "kept"))
    assert log == ["rollback", "commit", "kept", "close"]


async def test_an_explicit_commit_runs_the_effects_so_far_once() -> None:
    log: list[str] = []
    async with unit(log) as uow:
        uow.after_commit(effect(log, "first"))
        await uow.commit()
        uow.after_commit(effect(log, "second"))
    assert log == ["commit", "first", "commit", "second", "close"]


async def test_a_failing_effect_does_not_undo_the_commit_nor_stop_the_others() -> None:
    log: list[str] = []

    async def broken() -> None:
        raise ConnectionError("redis away")

    async with unit(log) as uow:
        uow.after_commit(broken)
        uow.after_commit(effect(log, "wake"))
    assert log == ["commit", "wake", "close"]


async def test_the_session_exists_only_inside_the_block() -> None:
    log: list[str] = []
    uow = unit(log)
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.session
    async with uow:
        assert isinstance(uow.session, FakeSession)
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.session


async def test_a_keyed_effect_runs_once_per_commit() -> None:
    log: list[str] = []
    async with unit(log) as uow:
        for name in ("book changed", "book changed again", "book changed once more"):
            uow.after_commit(effect(log, name), key=("book", 1))
        uow.after_commit(effect(log, "other book"), key=("book", 2))
        uow.after_commit(effect(log, "unkeyed"))
        uow.after_commit(effect(log, "unkeyed"))
    assert log == ["commit", "book changed", "other book", "unkeyed", "unkeyed", "close"]


async def test_a_failed_savepoint_rolls_back_its_step_and_forgets_its_effects() -> None:
    log: list[str] = []
    async with unit(log) as uow:
        async with uow.savepoint():
            uow.after_commit(effect(log, "first step"))

        async def bad_step() -> None:
            async with uow.savepoint():
                uow.after_commit(effect(log, "bad step"))
                raise ValueError("bad step")

        with pytest.raises(ValueError, match="bad step"):
            await bad_step()
        async with uow.savepoint():
            uow.after_commit(effect(log, "third step"))
    assert log == [
        "savepoint",
        "release",
        "savepoint",
        "rollback to savepoint",
        "savepoint",
        "release",
        "commit",
        "first step",
        "third step",
        "close",
    ]


async def test_a_rollback_inside_a_savepoint_undoes_that_step_only() -> None:
    log: list[str] = []
    async with unit(log) as uow:
        uow.after_commit(effect(log, "before"))
        async with uow.savepoint():
            uow.after_commit(effect(log, "unchanged step"))
            await uow.rollback()
        assert log == ["savepoint", "rollback to savepoint"]
    assert log[2:] == ["commit", "before", "close"]


async def test_savepoints_are_not_nested_and_nothing_commits_inside_one() -> None:
    log: list[str] = []
    async with unit(log) as uow, uow.savepoint():
        with pytest.raises(RuntimeError, match="not nested"):
            async with uow.savepoint():
                pass
        with pytest.raises(RuntimeError, match="inside a savepoint"):
            await uow.commit()


async def test_a_step_that_opens_the_transaction_needs_no_savepoint() -> None:
    log: list[str] = []

    async def failing_first_step(uow: UnitOfWork) -> None:
        async with uow.savepoint():
            uow.after_commit(effect(log, "failed step"))
            uow.session.idle = False  # type: ignore[attr-defined]  # it wrote: a transaction
            raise ValueError("refused")

    async with unit(log, idle=True) as uow:
        with pytest.raises(ValueError, match="refused"):
            await failing_first_step(uow)
        assert log == ["rollback"]  # the whole transaction: it held nothing else
        uow.session.idle = True  # type: ignore[attr-defined]  # rolled back: none under way
        async with uow.savepoint():
            uow.after_commit(effect(log, "first kept step"))
            uow.session.idle = False  # type: ignore[attr-defined]
        async with uow.savepoint():
            uow.after_commit(effect(log, "second step"))
    assert log == [
        "rollback",
        "savepoint",
        "release",
        "commit",
        "first kept step",
        "second step",
        "close",
    ]


async def test_a_rollback_in_a_step_that_opened_the_transaction_rolls_it_back() -> None:
    log: list[str] = []
    async with unit(log, idle=True) as uow:
        async with uow.savepoint():
            uow.after_commit(effect(log, "unchanged"))
            await uow.rollback()
        uow.after_commit(effect(log, "later"))
    assert log == ["rollback", "commit", "later", "close"]
