"""Every statement a measured path runs, captured in-process and EXPLAINed on the seeded data.

The API is built in this process (``api.app.create_app``, the same settings as the served one)
and each path is requested once through Litestar's test client, while a listener on SQLAlchemy's
``Engine`` records every statement with its parameters as the driver receives them. Each distinct
statement is then run again under ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` inside a transaction
that is rolled back, twice:

- ``natural``: the planner's own choice (judged on large databases only, where it is the truth);
- ``forced``: with ``enable_seqscan = off``, so the planner takes an index wherever one can serve:
  a sequential scan that remains means no index can. This check holds at any size, which is why
  the small run in CI makes it.

A plan that scans one of :data:`LARGE_TABLES` sequentially fails the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

LARGE_TABLES = frozenset(
    {
        "citizen",
        "health_document",
        "health_entry",
        "access_log",
        "access_log_head",
        "appointment",
        "appointment_slot",
        "notification_outbox",
        "notification",
    }
)
NATURAL_FROM = 100_000
"""From this many citizens on, the planner's natural choice is judged too."""


@dataclass
class Plan:
    path: str
    statement: str
    mode: str
    seq_scans: list[str]
    execution_ms: float | None
    shared_hit: int = 0
    shared_read: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "mode": self.mode,
            "statement": self.statement[:2000],
            "seq_scans": self.seq_scans,
            "execution_ms": self.execution_ms,
            "shared_hit": self.shared_hit,
            "shared_read": self.shared_read,
            "error": self.error,
        }


@dataclass
class Captured:
    statements: list[tuple[str, str, Any]] = field(default_factory=list)
    path: str = ""


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def seq_scans_of(plan: dict[str, Any]) -> list[str]:
    """The large tables a plan (EXPLAIN's JSON ``Plan`` node) reads sequentially."""
    return sorted(
        {
            node["Relation Name"]
            for node in _nodes(plan)
            if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in LARGE_TABLES
        }
    )


def _is_query(statement: str) -> bool:
    head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return head in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}


class _Rollback(Exception):
    pass


async def explain(
    conn: asyncpg.Connection, statement: str, parameters: Any, *, forced: bool
) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON plan of ``statement`` run with ``parameters``; nothing it does is kept."""
    args = list(parameters or ())
    result: dict[str, Any] | None = None
    error: str | None = None
    try:
        async with conn.transaction():
            if forced:
                await conn.execute("SET LOCAL enable_seqscan = off")
            raw = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, *args)
            doc = raw if isinstance(raw, list) else json.loads(raw)
            result = doc[0]
            raise _Rollback
    except _Rollback:
        pass
    except asyncpg.IntegrityConstraintViolationError:
        # the write already happened for real (the request stored its row): plan it unexecuted
        return await _plan_only(conn, statement, args, forced=forced)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    return result, error


async def _plan_only(
    conn: asyncpg.Connection, statement: str, args: list[Any], *, forced: bool
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        async with conn.transaction():
            if forced:
                await conn.execute("SET LOCAL enable_seqscan = off")
            raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + statement, *args)
            doc = raw if isinstance(raw, list) else json.loads(raw)
            raise _Result(doc[0])
    except _Result as found:
        return found.plan, None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    return None, "no plan"


class _Result(Exception):
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan


async def capture(env: Mapping[str, str], prepared: Any) -> list[Plan]:
    """Request each path once in-process (its last prepared call, unused by the measurement),
    record its statements, EXPLAIN each distinct one."""
    from litestar.testing import AsyncTestClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from api.app import create_app

    captured = Captured(path="startup")

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):
        if not _is_query(statement):
            return
        # executemany hands a list of parameter sets: the first one stands for all
        nested = bool(parameters) and isinstance(parameters[0], list | tuple)
        first = parameters[0] if nested else parameters
        captured.statements.append((captured.path, statement, tuple(first or ())))

    saved = dict(os.environ)
    os.environ.update(env)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        app = create_app()
        async with AsyncTestClient(app=app, base_url=env["PUBLIC_BASE_URL"]) as client:
            for name, calls in prepared.plan_calls.items():
                captured.path = name
                call = calls[-1]
                await client.request(
                    call.method, call.path, headers=call.headers, content=call.body
                )
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        os.environ.clear()
        os.environ.update(saved)

    citizens = int(env.get("SCALE_CITIZENS", "0"))
    modes = ["forced", "natural"] if citizens >= NATURAL_FROM else ["forced"]
    dsn = env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    plans: list[Plan] = []
    seen: set[tuple[str, str]] = set()
    try:
        for path, statement, parameters in captured.statements:
            if (path, statement) in seen:
                continue
            seen.add((path, statement))
            for mode in modes:
                doc, error = await explain(conn, statement, parameters, forced=mode == "forced")
                if doc is None:
                    plans.append(Plan(path, statement, mode, [], None, error=error))
                    continue
                top = doc["Plan"]
                plans.append(
                    Plan(
                        path,
                        statement,
                        mode,
                        seq_scans_of(top),
                        doc.get("Execution Time"),
                        shared_hit=int(top.get("Shared Hit Blocks", 0)),
                        shared_read=int(top.get("Shared Read Blocks", 0)),
                    )
                )
    finally:
        await conn.close()
    return plans


def format_plans(runs: list[dict[str, Any]]) -> str:
    lines = []
    for run in runs:
        plans = run["plans"]
        bad = [p for p in plans if p["seq_scans"]]
        failed = [p for p in plans if p["error"]]
        lines.append(
            f"plans at {run['citizens']:,} citizens: {len(plans)} explained, "
            f"{len(bad)} with a sequential scan of a large table, {len(failed)} not explainable"
        )
        for plan in bad:
            first_line = " ".join(plan["statement"].split())[:140]
            lines.append(f"  SEQ SCAN {plan['seq_scans']} [{plan['path']}, {plan['mode']}]")
            lines.append(f"    {first_line}")
    return "\n".join(lines)
