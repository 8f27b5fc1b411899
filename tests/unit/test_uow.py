"""The unit of work: it owns the commit, and after-commit effects run only after a commit."""

from __future__ import annotations

from typing import Any

import pytest

from api.core.uow import UnitOfWork


class FakeSession:
    """What a unit of work asks of a session, recorded."""

    def __init__(self, log: list[str], *, fail_commit: bool = False) -> None:
        self.log = log
        self.fail_commit = fail_commit
        self.open = True

    async def commit(self) -> None:
        if self.fail_commit:
            self.log.append("commit failed")
            raise RuntimeError("the database refused the commit")
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    def in_transaction(self) -> bool:
        return True

    async def close(self) -> None:
        self.open = False
        self.log.append("close")


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
