"""``healthbook``: serve, migrate (and the commands later parts add)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload
from urllib.parse import urlsplit, urlunsplit

import click

from api.core.errors import DomainError
from api.core.observability import configure_logging
from api.core.settings import SECRET_VARIABLES, Settings, SettingsError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from api.core.port import PortClaim
    from api.identity.schemas import ClientKind
    from api.runtime import Runtime

logger = logging.getLogger("healthbook.cli")
PACKAGE = "healthbook"


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings.from_env()
        if overrides:
            settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})
            settings.check()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.observability.log_level)
    return settings


def _runtime(settings: Settings) -> Runtime:
    """The composition root, for a command: it builds only what the command uses."""
    from api.runtime import Runtime

    return Runtime(settings)


class _Bar:
    """:class:`api.core.progress.Progress` as a click progress bar on stderr, drawn only when
    stderr is a terminal (quiet in scripts, cron jobs and CI logs)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.drawn = sys.stderr.isatty()

    def start(self, total: int) -> None:
        if self.drawn and self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label=self.label, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, steps: int) -> None:
        if self.bar is not None:
            self.bar.update(steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextlib.contextmanager
def _progress(label: str) -> Iterator[_Bar]:
    bar = _Bar(label)
    try:
        yield bar
    finally:
        bar.close()


def _generate_client_key() -> tuple[dict[str, list[dict[str, str]]], dict[str, object]]:
    """An Ed25519 key pair for a client: (public JWK Set to register, private JWK to hand over)."""
    import json
    import secrets

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from jwt.algorithms import OKPAlgorithm

    private = Ed25519PrivateKey.generate()
    kid = f"k-{secrets.token_hex(4)}"
    public_jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    private_jwk = json.loads(OKPAlgorithm.to_jwk(private))
    for jwk in (public_jwk, private_jwk):
        jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    return {"keys": [public_jwk]}, private_jwk


DEBUG_ENV = "HEALTHBOOK_DEBUG"


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def fail(message: str) -> NoReturn:
    """End the command: ``healthbook: MESSAGE`` as one line on stderr, exit status 1."""
    raise click.ClickException(message)


class HealthbookGroup(click.Group):
    """Every failure ends the same way: one line on stderr (``healthbook: …``) and exit status 1,
    whatever raised it; the traceback only with ``--debug`` or ``HEALTHBOOK_DEBUG=1``."""

    # click's own overloads: standalone mode never returns
    @overload
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: Literal[True] = True,
        **extra: Any,
    ) -> NoReturn: ...

    @overload
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = ...,
        **extra: Any,
    ) -> Any: ...

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name or "healthbook", complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else self.get_help(click.Context(self)))
            sys.exit(0)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "healthbook"
            self._fail(f"{_one_line(exc.format_message())} (see '{where} --help')")
        except click.ClickException as exc:
            self._fail(_one_line(exc.format_message()))
        except click.Abort:
            self._fail("interrupted", status=130)
        except Exception as exc:  # anything else a command let through: still one line
            message = _one_line(str(exc)) or type(exc).__name__
            hint = "" if _debugging() else f" (rerun with {DEBUG_ENV}=1 for the traceback)"
            self._fail(f"{message}{hint}")
        sys.exit(code if isinstance(code, int) else 0)

    @staticmethod
    def _fail(message: str, status: int = 1) -> NoReturn:
        if _debugging() and sys.exc_info()[0] is not None:
            traceback.print_exc()
        click.echo(f"healthbook: {message}", err=True)
        sys.exit(status)


def _enable_debug(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_ENV] = "1"  # also for the processes a command starts


@click.group(cls=HealthbookGroup)
@click.version_option(None, "--version", "-V", package_name=PACKAGE, prog_name="healthbook")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_enable_debug,
    help=f"On failure, print the traceback too (or set {DEBUG_ENV}=1).",
)
def main() -> None:
    """Sổ Sức Khỏe: the personal health book service."""


@main.command()
@click.option("--host", default=None, help="Address to bind (HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (WORKERS, default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP API under granian."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = _settings(host=host, port=port, workers=workers)
    # Before anything starts: granian shares a port with any server already on it (SO_REUSEPORT).
    claim = _claim_port(settings.http.host, settings.http.port, "make serve PORT=N")
    if settings.migrate_on_start:
        # Once here, before any worker starts, so workers never race on the schema.
        from api.db.migrate import upgrade_sync

        upgrade_sync(settings.effective_database_url)
    # Workers read their settings from the environment: hand the CLI overrides down.
    os.environ["HOST"] = settings.http.host
    os.environ["PORT"] = str(settings.http.port)
    os.environ["WORKERS"] = str(settings.http.workers)
    os.environ["AUTO_MIGRATE"] = "false"
    server = Granian(
        "api.app:create_app_from_env",
        factory=True,
        address=settings.http.host,
        port=settings.http.port,
        interface=Interfaces.ASGI,
        workers=settings.http.workers,
        log_access=False,
        log_dictconfig={"version": 1, "disable_existing_loggers": False},
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )
    server.serve()
    del claim  # held until the server has stopped


def _claim_port(host: str, port: int, make_hint: str) -> PortClaim:
    """Stop at once, in one line, when something already listens on ``host:port``."""
    from api.core.port import PortUnavailable, claim_port

    try:
        return claim_port(host, port)
    except PortUnavailable as exc:
        if exc.in_use:
            fail(
                f"port {port} on {host} is already in use; "
                f"choose another with --port N (or {make_hint})"
            )
        fail(f"cannot listen on {host} port {port}: {exc}; choose another --host or --port")


@main.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, envvar="HOST", help="Address to bind (HOST)."
)
@click.option(
    "--port", type=int, default=8000, show_default=True, envvar="PORT", help="Port (PORT)."
)
@click.option(
    "--walkthrough",
    is_flag=True,
    help="Instead of serving: run the whole story over HTTP against the running demo.",
)
@click.option(
    "--base-url", default=None, help="The running demo (--walkthrough); default http://HOST:PORT."
)
def demo(host: str, port: int, walkthrough: bool, base_url: str | None) -> None:
    """Run the service in demo mode on embedded defaults: the demo identity provider, two
    facilities with a week of slots, three citizens with records, a kiosk; or, with
    --walkthrough, tell the whole story against the running demo."""
    base = (base_url or f"http://{host}:{port}").rstrip("/")
    os.environ["DEMO"] = "true"
    os.environ.setdefault("PUBLIC_BASE_URL", base)
    settings = _settings()
    from api.demo.client import Credentials

    credentials = Credentials(settings.data_dir)
    if walkthrough:
        _demo_walkthrough(base, credentials)
        return
    # Before anything is made or started: never seed a server that was already there. The claim
    # is handed to the service started below and held until it stops.
    claim = _claim_port(host, port, "make run PORT=N")
    from api.demo.seed import ensure_admin

    ensure_admin(settings, credentials)
    click.echo(
        f"Sổ Sức Khỏe demo: starting the service at {base} with the demo identity provider, "
        "then seeding facilities, slots, citizens and a kiosk…"
    )

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # leave through the finally below, which stops the service

    signal.signal(signal.SIGTERM, stop)
    # our own interpreter and module, with an address click has already validated
    posix = os.name == "posix"
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "api.cli", "serve", "--host", host, "--port", str(port)],
        env={**os.environ, **claim.inherit()},
        pass_fds=claim.fds,
        # a process group of its own: whatever the service started goes when it does (below);
        # Ctrl-C reaches it through this process, once
        process_group=0 if posix else None,
    )
    try:
        _wait_ready(base, server)
        _demo_seed_and_tell(base, host, port, credentials)
        server.wait()
    except _ServiceExited:
        sys.exit(1)  # the service said why on stderr, in one line
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if posix:  # a worker or relay left behind by a service that did not stop cleanly
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
    if server.returncode not in (0, -signal.SIGINT, None):
        raise click.ClickException(f"the service exited with {server.returncode}")


class _ServiceExited(Exception):
    """The service the demo started stopped before it was ready."""


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise _ServiceExited(server.returncode)
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"the service did not become ready at {base} in {timeout:.0f} s")


def _walkthrough_commands(base: str, host: str, port: int) -> list[str]:
    """Ways to start the walkthrough that work however this demo was started: the make target
    (which finds uv, in .tools/ too) and this very installation's executable."""
    import shlex

    make = "make walkthrough"
    if port != 8000:
        make += f" PORT={port}"
    if host != "127.0.0.1":
        make += f" HOST={shlex.quote(host)}"
    executable = Path(sys.executable).parent / "healthbook"
    direct = (
        [shlex.quote(str(executable))]
        if executable.exists()
        else [shlex.quote(sys.executable), "-m", "api.cli"]
    )
    return [
        f"    {make}    (in the project folder)",
        f"    {' '.join(direct)} demo --walkthrough --base-url {shlex.quote(base)}",
    ]


def _demo_seed_and_tell(base: str, host: str, port: int, credentials: Any) -> None:
    import json

    from api.demo import data
    from api.demo.client import Api
    from api.demo.seed import kiosk_name, seed
    from api.identity.demo_idp import DEMO_PATH, DEMO_PEOPLE

    api = Api(base)
    try:
        seeded = seed(api, credentials, dt.datetime.now(dt.UTC))
        token = api.citizen_token(DEMO_PEOPLE[0].national_id)
    finally:
        api.close()
    facility = data.FACILITIES[0]
    department = facility.departments[0]
    kiosk = credentials.get(kiosk_name(facility.id))
    lines = [
        "",
        f"Sổ Sức Khỏe demo is ready at {base}",
        f"  seeded: facilities {', '.join(seeded.facilities)}; {seeded.slots} slots over 7 days; "
        f"{seeded.documents} visit summaries; citizens {', '.join(seeded.citizens)} "
        f"({DEMO_PEOPLE[0].name} is the guardian of {DEMO_PEOPLE[2].name})",
        f"  API documentation:      {base}/schema",
        f"  demo identity provider: {base}{DEMO_PATH}/",
        f"  kiosk page:             {base}/kiosk  (set-up: paste the next two lines into its form)",
        f"    client id:   {kiosk['client_id'] if kiosk else '-'}",
        f"    private key: {json.dumps(kiosk['private_jwk']) if kiosk else '-'}",
        f"  queue board:            {base}/board/{facility.id}/{department.code}",
        "  try it (a citizen token for 15 minutes):",
        f"    TOKEN={token}",
        f'    curl -s {base}/citizens/me/health-book -H "Authorization: Bearer $TOKEN"',
        f'    curl -s "{base}/facilities/{facility.id}/slots?department={department.code}"',
        f'    curl -s {base}/citizens/me/notifications -H "Authorization: Bearer $TOKEN"',
        "  the whole story over HTTP, in another terminal:",
        *_walkthrough_commands(base, host, port),
        "",
    ]
    click.echo("\n".join(lines))


def _demo_walkthrough(base: str, credentials: Any) -> None:
    from api.demo.client import Api, DemoError
    from api.demo.walkthrough import Walkthrough

    api = Api(base)
    try:
        Walkthrough(api, credentials, echo=click.echo).run()
    except (DemoError, OSError) as exc:
        raise click.ClickException(f"walkthrough failed: {exc}") from exc
    finally:
        api.close()
    click.echo("walkthrough complete: every step answered as expected")


@main.command()
def worker() -> None:
    """Run the notification relay (outbox -> inbox and push); run as many replicas as needed."""
    from api.worker import run_worker

    settings = _settings()
    try:
        import uvloop
    except ImportError:  # Windows
        asyncio.run(run_worker(settings))
    else:
        uvloop.run(run_worker(settings))


@main.command("worker-alive")
@click.option(
    "--max-age",
    type=float,
    default=None,
    help="Seconds a heartbeat may be old (default: 3 relay polls plus one lease).",
)
def worker_alive(max_age: float | None) -> None:
    """Liveness check of a `healthbook worker` on this host: exit 0 when its relay went round
    its loop recently (WORKER_HEARTBEAT_FILE), 1 when the heartbeat is stale or missing."""
    from api.worker import heartbeat_max_age
    from notifications import heartbeat

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    path = settings.notifications.effective_worker_heartbeat_file
    limit = heartbeat_max_age(settings) if max_age is None else max_age
    age = heartbeat.age(path)
    if age is None:
        fail(f"no worker heartbeat at {path}")
    if age > limit:
        fail(f"worker heartbeat is {age:.1f} s old (limit {limit:.0f} s): hung")
    click.echo(f"worker alive: relay went round {age:.1f} s ago")


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--downgrade", "down", is_flag=True, help="Downgrade to --revision instead.")
def migrate(revision: str, down: bool) -> None:
    """Apply (or revert) database migrations on DATABASE_URL."""
    from api.db.migrate import downgrade_sync, upgrade_sync

    settings = _settings()
    url = settings.effective_database_url
    if down:
        if revision == "head":
            raise click.UsageError("--downgrade needs an explicit --revision (or 'base')")
        downgrade_sync(url, revision)
    else:
        upgrade_sync(url, revision)
    click.echo(f"database at {revision}")


def _hidden(name: str, value: Any) -> Any:
    """A setting as check-config prints it: secrets as ``***``, a URL's password as ``***``."""
    if name not in SECRET_VARIABLES or not value:
        return value
    if name in ("DATABASE_URL", "REDIS_URL"):
        url = urlsplit(str(value))
        if url.password is None:
            return value
        host = url.netloc.rpartition("@")[2]
        user = f"{url.username}:" if url.username else ":"
        return urlunsplit(url._replace(netloc=f"{user}***@{host}"))
    return "***"


@main.command("check-config")
def check_config() -> None:
    """Validate the environment's settings and print them (secrets hidden)."""
    settings = _settings()
    for name, value in settings.by_variable().items():
        shown = _hidden(name, value)
        click.echo(f"{name}={'' if shown is None else shown}")
    if settings.production and settings.insurance.accept_unsigned_facilities:
        click.echo(
            "WARNING: INSURANCE_ACCEPT_UNSIGNED_FACILITIES is set in production: insurance XML "
            "from "
            + ", ".join(settings.insurance.accept_unsigned_facilities)
            + " is accepted without a valid signature",
            err=True,
        )
    if settings.production and not settings.health_cards.signing_keys:
        click.echo(
            "WARNING: HEALTH_CARD_SIGNING_KEYS is not set in production: no SMART Health Card "
            "is issued (the embedded key of DATA_DIR is never used in production; "
            "`healthbook shc new-key` makes one)",
            err=True,
        )


@main.group()
def keys() -> None:
    """Our keys: signing keys (EdDSA for our tokens, ES384/RS384 for assertions to facilities),
    and the keys health documents are encrypted with."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Make new signing keys (one per algorithm); the previous ones keep verifying for
    SIGNING_KEY_VERIFY_KEEP_DAYS."""
    from api.core.security import rotate

    settings = _settings()
    directory = settings.effective_signing_keys_dir
    kid = rotate(directory, dt.timedelta(days=settings.security.signing_key_verify_keep_days))
    click.echo(f"new signing key {kid} in {directory}; running processes pick it up within seconds")


@keys.command("list")
def keys_list() -> None:
    """Show the signing keys and which one signs."""
    from api.core.security import SigningKeys

    settings = _settings()
    store = SigningKeys(
        settings.effective_signing_keys_dir,
        verify_keep=dt.timedelta(days=settings.security.signing_key_verify_keep_days),
        generate_if_missing=False,
    )
    for key in sorted(store.jwks()["keys"], key=lambda k: k["kid"]):
        marker = "signing" if store.is_signer(key["kid"]) else "verify-only"
        click.echo(f"{key['kid']}\t{key['alg']}\t{marker}")


@keys.command("new-document-key")
def keys_new_document_key() -> None:
    """Print a new document encryption key (ID:BASE64) to put first in DOCUMENT_ENCRYPTION_KEYS."""
    from api.core.encryption import new_key_line

    click.echo(new_key_line(f"{dt.datetime.now(dt.UTC):%Y%m%d}"))


@keys.command("rewrap")
@click.option("--dry-run", is_flag=True, help="Only count what would be rewritten.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
def keys_rewrap(dry_run: bool, batch_size: int) -> None:
    """Re-wrap every document's data key with the first DOCUMENT_ENCRYPTION_KEYS key (after a
    rotation), and encrypt documents stored before encryption at rest."""
    from api.core.encryption import DocumentKeyError, document_keys
    from api.db.rewrap import ColumnReport, rewrap

    settings = _settings()

    async def run() -> list[ColumnReport]:
        async with _runtime(settings) as runtime:
            keys = document_keys(settings)
            with _progress("values") as bar:
                return await rewrap(
                    runtime.engine, keys, dry_run=dry_run, batch_size=batch_size, progress=bar
                )

    try:
        reports = asyncio.run(run())
    except DocumentKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "would rewrite" if dry_run else "rewrote"
    for report in reports:
        found = ", ".join(f"{k}={n}" for k, n in report.by_key.items()) or "none"
        click.echo(
            f"{report.column}: {report.values} value(s) ({found}); {verb} {report.rewrapped} "
            f"re-wrapped, {report.encrypted_plaintext} plaintext encrypted"
        )


@main.group()
def audit() -> None:
    """The access log's integrity."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk every citizen's access-log hash chain; exit 1 naming the first altered, removed or
    out-of-place row."""
    from api.health_book.audit import VerifyReport, verify

    settings = _settings()

    async def run() -> VerifyReport:
        async with _runtime(settings) as runtime, runtime.uow() as uow:
            with _progress("rows") as bar:
                return await verify(uow.session, progress=bar)

    report = asyncio.run(run())
    if report.first_break is not None:
        raise click.ClickException(
            f"access log tampered with: {report.first_break.describe()} "
            f"({report.rows} row(s) checked before it)"
        )
    click.echo(f"access log intact: {report.rows} row(s) in {report.chains} chain(s)")


@main.group("db")
def db_group() -> None:
    """Database administration."""


@db_group.command("grant-app-role")
@click.argument("role")
@click.option("--create", is_flag=True, help="Create the role (LOGIN, no password) if missing.")
def db_grant_app_role(role: str, create: bool) -> None:
    """Grant ROLE what the service needs on PostgreSQL, and no UPDATE/DELETE on the access log.

    Run as the tables' owner (DATABASE_URL), again after each migration; then run the service as
    ROLE."""
    from api.db.roles import RoleError, grant_app_role

    settings = _settings()

    async def run() -> list[str]:
        async with _runtime(settings) as runtime:
            return await grant_app_role(runtime.engine, role, create=create)

    try:
        statements = asyncio.run(run())
    except RoleError as exc:
        raise click.ClickException(str(exc)) from exc
    for statement in statements:
        click.echo(statement + ";")
    click.echo(f"role {role}: read/write on the schema, append-only on the access log")


@main.group()
def clients() -> None:
    """API clients (hospital systems, kiosks, operators)."""


@clients.command("create")
@click.option("--kind", type=click.Choice(["admin", "hospital", "kiosk"]), required=True)
@click.option("--name", required=True, help="A name operators recognise.")
@click.option("--facility", "facility_id", default=None, help="Facility id (hospital, kiosk).")
@click.option("--id", "client_id", default=None, help="Client id (generated when absent).")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A JWK Set file with the client's public key(s); without it a key pair is generated "
    "and its private half printed once.",
)
def clients_create(
    kind: ClientKind,  # one of click.Choice's values
    name: str,
    facility_id: str | None,
    client_id: str | None,
    public_key: str | None,
) -> None:
    """Register a client (the first operator is made this way; the rest over the admin API)."""
    import json

    from api.identity.schemas import ClientCreate, ClientView

    settings = _settings()
    private_jwk: dict[str, object] | None = None
    if public_key:
        jwks = json.loads(Path(public_key).read_text())
    else:
        jwks, private_jwk = _generate_client_key()

    async def create() -> ClientView:
        if settings.migrate_on_start:
            from api.db.migrate import upgrade

            await upgrade(settings.effective_database_url)
        async with _runtime(settings) as runtime:
            return await runtime.identity_registry.create_client(
                ClientCreate(
                    kind=kind,
                    name=name,
                    jwks=jwks,
                    facility_id=facility_id,
                    id=client_id,
                )
            )

    try:
        view = asyncio.run(create())
    except DomainError as exc:
        raise click.ClickException(exc.detail or exc.problem.title) from exc
    click.echo(f"client_id: {view.id}")
    click.echo(f"kind: {kind}; scopes: {' '.join(view.scopes)}")
    click.echo(f"token endpoint (assertion aud): {settings.token_endpoint}")
    if private_jwk is not None:
        click.echo("private key (JWK) — shown once, store it as a secret:")
        click.echo(json.dumps(private_jwk))


@main.command()
@click.option("--facility", "facility_id", required=True, help="Facility id (with a FHIR URL).")
@click.option(
    "--identifier",
    default=None,
    metavar="SYSTEM|VALUE",
    help="Sync the one patient carrying this identifier at the facility.",
)
@click.option(
    "--all",
    "all_known",
    is_flag=True,
    help="Re-sync every patient already linked at the facility (changes since their last sync).",
)
def sync(facility_id: str, identifier: str | None, all_known: bool) -> None:
    """Pull patients' records from a facility's FHIR API into the health book."""
    from api.health_book.pull import SyncResult

    if (identifier is None) == (not all_known):
        raise click.UsageError("give either --identifier SYSTEM|VALUE or --all")
    system, _, value = (identifier or "").partition("|")
    if identifier is not None and not (system and value):
        raise click.UsageError("--identifier must be SYSTEM|VALUE")
    settings = _settings()

    async def run() -> list[SyncResult]:
        if settings.migrate_on_start:
            from api.db.migrate import upgrade

            await upgrade(settings.effective_database_url)
        async with _runtime(settings) as runtime:
            # The overviews it changes are rebuilt in Redis and the invalidation published, so
            # API processes on the same Redis serve them at once; with the embedded in-process
            # Redis, which no other process reaches, a running API sees the book's version
            # change in the database and rebuilds the overview at its next read.
            service = runtime.pull
            if identifier is not None:
                return [await service.sync_patient_identifier(facility_id, system, value)]
            with _progress("patients") as bar:
                return await service.sync_known_patients(facility_id, progress=bar)

    try:
        results = asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.detail or exc.problem.title) from exc
    if not results:
        click.echo(f"no patients are linked at facility {facility_id} yet")
    for result in results:
        line = f"{result.facility_id}/Patient/{result.remote_patient_id}: {result.outcome}"
        if result.operation != "none":
            line += f" ({result.operation}, {result.pages} page(s))"
        if result.document_id:
            line += f"; document {result.document_id} v{result.version}"
        stored = ", ".join(f"{k}={n}" for k, n in result.entry_counts.items() if n)
        if stored:
            line += f"; entries: {stored}"
        if result.error:
            line += f"; {result.error}"
        click.echo(line)
    failed = sum(1 for result in results if result.outcome == "failed")
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} patient(s) failed")


def _migrated(settings: Settings) -> None:
    if settings.migrate_on_start:
        from api.db.migrate import upgrade

        asyncio.run(upgrade(settings.effective_database_url))


@main.group()
def shares() -> None:
    """SMART Health Links of the book."""


@shares.command("sweep")
def shares_sweep() -> None:
    """Erase the content of expired and revoked links (after SHARING_SWEEP_AFTER_DAYS) and
    delete used file tickets; the worker does this every SHARING_SWEEP_INTERVAL_SECONDS."""
    settings = _settings()
    _migrated(settings)

    async def run() -> Any:
        async with _runtime(settings) as runtime:
            return await runtime.sharing.sweep()

    result = asyncio.run(run())
    click.echo(f"swept {result.links} link(s), deleted {result.tickets} file ticket(s)")


@main.group("insurance-cert")
def insurance_cert() -> None:
    """Certificates facilities sign their insurance XML (QĐ 130 ``CHUKYDONVI``) with."""


@insurance_cert.command("add")
@click.option("--facility", "facility_id", required=True, help="Facility code (MACSKCB).")
@click.argument("pem_file", type=click.Path(exists=True, dir_okay=False))
def insurance_cert_add(facility_id: str, pem_file: str) -> None:
    """Register the facility's signing certificate (a PEM file)."""
    settings = _settings()
    _migrated(settings)
    pem = Path(pem_file).read_text()

    async def run() -> tuple[Any, bool]:
        async with _runtime(settings) as runtime:
            return await runtime.insurance.add_certificate(facility_id, pem, added_by="cli")

    try:
        view, created = asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.detail or exc.problem.title) from exc
    click.echo(f"{'added' if created else 'already registered'}: {view.sha256} {view.subject}")


@insurance_cert.command("list")
@click.option("--facility", "facility_id", required=True, help="Facility code (MACSKCB).")
def insurance_cert_list(facility_id: str) -> None:
    """The facility's registered signing certificates."""
    settings = _settings()
    _migrated(settings)

    async def run() -> list[Any]:
        async with _runtime(settings) as runtime:
            return await runtime.insurance.certificates(facility_id)

    try:
        views = asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.detail or exc.problem.title) from exc
    if not views:
        click.echo(f"no certificates registered for {facility_id}")
    for view in views:
        click.echo(f"{view.sha256} {view.subject} (until {view.not_after:%Y-%m-%d})")


@insurance_cert.command("remove")
@click.option("--facility", "facility_id", required=True, help="Facility code (MACSKCB).")
@click.argument("sha256")
def insurance_cert_remove(facility_id: str, sha256: str) -> None:
    """Stop accepting envelopes signed with a certificate (by its SHA-256)."""
    settings = _settings()
    _migrated(settings)

    async def run() -> None:
        async with _runtime(settings) as runtime:
            await runtime.insurance.remove_certificate(facility_id, sha256)

    try:
        asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.detail or exc.problem.title) from exc
    click.echo(f"removed {sha256.lower()}")


def _envelope_files(paths: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".xml")
            )
        else:
            found.append(path)
    return found


@main.command("import-xml")
@click.option("--facility", "facility_id", required=True, help="Facility code (MACSKCB).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def import_xml(facility_id: str, paths: tuple[str, ...]) -> None:
    """Back-fill signed insurance XML envelopes (files or folders of *.xml) into the book.

    Resumable: episodes already imported answer "unchanged". Exits 1 when any episode or file
    was rejected."""
    settings = _settings()
    _migrated(settings)
    files = _envelope_files(paths)
    totals = {"created": 0, "new_version": 0, "unchanged": 0, "rejected": 0, "files_refused": 0}

    async def run() -> None:
        async with _runtime(settings) as runtime:
            service = runtime.insurance
            with _progress("envelopes") as bar:
                bar.start(len(files))
                for path in files:
                    bar.advance(1)
                    try:
                        result = await service.submit(
                            path.read_bytes(), facility_id=facility_id, publisher="import-xml"
                        )
                    except DomainError as exc:
                        totals["files_refused"] += 1
                        click.echo(f"{path}: refused: {exc.detail or exc.problem.title}")
                        continue
                    for episode in result.episodes:
                        if episode.status == "accepted" and episode.outcome is not None:
                            totals[episode.outcome] += 1
                            click.echo(
                                f"{path} #{episode.index} MA_LK {episode.ma_lk}: "
                                f"{episode.outcome} (document {episode.document_id} "
                                f"v{episode.version})"
                            )
                        else:
                            totals["rejected"] += 1
                            rules = "; ".join(
                                f"{p.table}.{p.field}: {p.rule}" for p in episode.problems
                            )
                            click.echo(
                                f"{path} #{episode.index} MA_LK {episode.ma_lk}: rejected: {rules}"
                            )

    asyncio.run(run())
    click.echo(
        "summary: "
        + ", ".join(f"{name}={count}" for name, count in totals.items())
        + f" ({len(files)} file(s))"
    )
    if totals["rejected"] or totals["files_refused"]:
        raise click.ClickException(
            f"{totals['rejected']} episode(s) rejected, {totals['files_refused']} file(s) refused"
        )


@main.group()
def shc() -> None:
    """SMART Health Cards: verify a card, make an issuer key."""


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except OSError:  # a name too long for a path: card text given inline
        return False


@shc.command("verify")
@click.argument("card")
@click.option("--json", "as_json", is_flag=True, help="Print the whole verdict as JSON.")
def shc_verify(card: str, as_json: bool) -> None:
    """Verify CARD: a file (.smart-health-card, a JWS, or shc:/ text), ``-`` for standard
    input, or the shc:/ text or JWS itself. Exit 0 when valid, 1 with the reason otherwise.
    Trusts this service's keys and HEALTH_CARD_TRUSTED_ISSUERS."""
    import msgspec

    from api.health_cards.schemas import Verification

    if card == "-":
        text = click.get_text_stream("stdin").read()
    elif _is_file(card):
        text = Path(card).read_text(encoding="utf-8", errors="replace")
    elif card.lstrip().lower().startswith("shc:/") or re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", card):
        text = card
    else:
        raise click.ClickException(f"{card}: no such file (nor shc:/ text or a JWS)")
    settings = _settings()

    async def run() -> Verification:
        if settings.migrate_on_start:
            from api.db.migrate import upgrade

            await upgrade(settings.effective_database_url)
        async with _runtime(settings) as runtime:
            return await runtime.health_cards.verify(text)

    verdict = asyncio.run(run())
    if as_json:
        click.echo(msgspec.json.encode(verdict).decode())
    else:
        entries = (verdict.fhir_bundle or {}).get("entry") or []
        kinds = sorted({str((e.get("resource") or {}).get("resourceType")) for e in entries})
        click.echo(f"issuer: {verdict.issuer or '-'}")
        click.echo(f"kid: {verdict.kid or '-'}")
        click.echo(f"nbf: {verdict.nbf if verdict.nbf is not None else '-'}")
        click.echo(f"resources: {len(entries)} ({', '.join(kinds) or '-'})")
        click.echo("valid" if verdict.valid else f"invalid: {verdict.reason}: {verdict.detail}")
    if not verdict.valid:
        sys.exit(1)


@shc.command("new-key")
def shc_new_key() -> None:
    """Print a new issuer key (EC P-256, base64 PKCS#8 DER) to put first in
    HEALTH_CARD_SIGNING_KEYS (keep the previous key after it: it still verifies)."""
    from api.health_cards.keys import IssuerKey, load_key, new_key_text

    text = new_key_text()
    click.echo(text)
    click.echo(f"kid {IssuerKey(load_key(text)).kid}", err=True)


if __name__ == "__main__":
    sys.exit(main())
