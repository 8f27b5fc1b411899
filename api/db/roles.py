"""``healthbook db grant-app-role``: the PostgreSQL role the service runs as in production.

The role may read and write every table of the schema except two: ``access_log`` only takes
SELECT and INSERT (no UPDATE, DELETE or TRUNCATE: the log is append-only even for a compromised
service), and ``alembic_version`` only SELECT (the service never migrates as this role; run
``healthbook migrate`` as the owner). Run the command as the owner of the tables after each
migration (it is idempotent), and point the service's ``DATABASE_URL`` at the role.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.core.dialect import dialect_of

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY = ("access_log",)
READ_ONLY = ("alembic_version",)


class RoleError(ValueError):
    """The role cannot be set up as asked."""


def grant_statements(role: str, database: str, *, create: bool) -> list[str]:
    if not ROLE_NAME.match(role):
        raise RoleError("the role name must be lower-case letters, digits and _ (at most 63)")
    quoted = f'"{role}"'
    statements: list[str] = []
    if create:
        statements.append(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {quoted} LOGIN; END IF; END $$"
        )
    database_quoted = '"' + database.replace('"', '""') + '"'
    statements += [
        f"GRANT CONNECT ON DATABASE {database_quoted} TO {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]
    for name in APPEND_ONLY:
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {name} FROM {quoted}")
    for name in READ_ONLY:
        statements.append(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE {name} FROM {quoted}")
    return statements


async def grant_app_role(engine: AsyncEngine, role: str, *, create: bool) -> list[str]:
    """Apply the grants on the engine's database (PostgreSQL only); answers the statements."""
    if not dialect_of(engine).has_roles:
        raise RoleError("database roles exist on PostgreSQL only (DATABASE_URL)")
    async with engine.begin() as connection:
        database = (await connection.execute(text("SELECT current_database()"))).scalar_one()
        statements = grant_statements(role, str(database), create=create)
        for statement in statements:
            await connection.execute(text(statement))
    return statements
