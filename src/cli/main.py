"""The `loyalty` command: one composition root per subcommand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import ExitStack
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import ConfigurationError, Settings, get_settings


class _Loyalty(typer.Typer):
    """The command: a missing setting or an unreachable service is one line on stderr and
    exit status 2, never a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import DBAPIError
        from temporalio.service import RPCError

        try:
            return super().__call__(*args, **kwargs)
        except ConfigurationError as exc:
            typer.echo(f"error: {exc}", err=True)
        except (OSError, DBAPIError, RPCError) as exc:
            typer.echo(f"error: cannot reach a service it needs: {_first_line(exc)}", err=True)
        except RuntimeError as exc:  # temporalio's client says it could not connect so
            if not str(exc).startswith("Failed client connect"):
                raise
            typer.echo(f"error: cannot reach Temporal: {_first_line(exc)}", err=True)
        raise SystemExit(2)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


app = _Loyalty(
    help="Loyalty engine: API, worker, migrations and local development.", no_args_is_help=True
)
orgs_app = typer.Typer(help="Organisations.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
events_app = typer.Typer(help="Accepted events.", no_args_is_help=True)
app.add_typer(events_app, name="events")
campaigns_app = typer.Typer(help="Campaigns.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


def _serve(main: Coroutine[Any, Any, None]) -> None:
    """Long-running services run on uvloop: the event loop is most of a request's cost."""
    import uvloop

    uvloop.run(main)


def _settings() -> Settings:
    """A one-off command's settings: the environment's, or those of the `loyalty dev`
    running in DATA_DIR when the environment names no database (said on stderr)."""
    from src.cli.stack import locate

    settings, used = locate(get_settings())
    if used is not None:
        typer.echo(f"using {used}", err=True)
    return settings


def _logging(settings: Settings) -> None:
    from src.logs import configure

    configure(settings.log_level, settings.log_format)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from src.store.db import migrate as run

    asyncio.run(run(_settings().require_database_url()))
    typer.echo("database is up to date")


@app.command()
def api() -> None:
    """Serve the HTTP API."""
    from src.cli import processes

    settings = get_settings()
    _logging(settings)
    if settings.api_workers > 1:
        import tempfile

        import uvicorn

        from src import metrics

        # The processes write their metrics to files here; this one serves them all.
        with tempfile.TemporaryDirectory(prefix="loyalty-metrics-") as shared:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
            if settings.api_metrics_port:
                metrics.serve(settings.metrics_host, settings.api_metrics_port)
            uvicorn.run(
                "src.api.app:app_from_env",
                factory=True,
                workers=settings.api_workers,
                **processes.uvicorn_options(settings),
            )
        return
    _serve(processes.run(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """Run the Temporal worker and the outbox relay."""
    from src.cli import processes

    settings = get_settings()
    _logging(settings)
    _serve(processes.run(settings, api=False, worker=True))


@contextlib.asynccontextmanager
async def _engine(settings: Settings | None = None) -> AsyncIterator[AsyncEngine]:
    """A small engine for a one-off command."""
    from src.store.db import make_engine

    engine = make_engine((settings or _settings()).require_database_url(), 2)
    try:
        yield engine
    finally:
        await engine.dispose()


@orgs_app.command("create")
def orgs_create(
    name: str = typer.Option(..., "--name", help="Organisation name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an organisation and an all-scopes API key; the secret is shown only now."""
    from src.services import orgs

    async def create() -> dict[str, str]:
        async with _engine() as engine:
            org_id, key_id, secret = await orgs.create(engine, name)
        return {"orgId": org_id, "apiKey": key_id, "apiSecret": secret}

    created = asyncio.run(create())
    if as_json:
        typer.echo(json.dumps(created))
    else:
        for label, value in created.items():
            typer.echo(f"{label}: {value}")
        typer.echo("Store the secret now: it cannot be shown again.")


@orgs_app.command("set-limits")
def orgs_set_limits(
    org_id: str = typer.Argument(..., help="Organisation ID."),
    per_second: int = typer.Option(..., "--per-second", min=1, help="Sustained requests/s."),
    burst: int = typer.Option(..., "--burst", min=1, help="Requests in any one second."),
    key: str | None = typer.Option(
        None, "--key", help="Only this API key's budget (within the org's)."
    ),
) -> None:
    """Override an org's rate limit (default 100/s sustained, bursts to 500/s), or give one of
    its keys a smaller budget of its own."""
    from src.domain.errors import NotFound
    from src.services import orgs

    async def update() -> None:
        async with _engine() as engine:
            await orgs.set_rate_limit(engine, org_id, per_second, burst, key)

    try:
        asyncio.run(update())
    except NotFound as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    who = f"{org_id} key {key}" if key else org_id
    typer.echo(f"{who}: {per_second}/s sustained, bursts to {burst}/s (applies at once)")


@app.command()
def status(
    org: uuid.UUID | None = typer.Option(None, "--org", help="Only this organisation."),
    max_backlog_age: float = typer.Option(
        300.0,
        "--max-backlog-age",
        min=0,
        help="Exit 1 when the oldest action waiting to start has waited longer (seconds).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    watch: bool = typer.Option(False, "--watch", help="Refresh until Ctrl-C."),
    every: float = typer.Option(2.0, "--every", min=0.5, help="Seconds between refreshes."),
) -> None:
    """Backlog, its oldest action's age, and what became of the actions accepted in the last
    hour and day (failures by reason); usable as a health probe: exit 1 when the backlog is
    older than --max-backlog-age, 2 when the database cannot be read."""
    import click
    from sqlalchemy.exc import SQLAlchemyError

    from src.cli.status import as_dict, render, too_old
    from src.store import status as store

    async def run() -> bool:
        async with _engine() as engine:  # one pool for every refresh
            while True:
                async with engine.connect() as conn:
                    found = await store.read(conn, str(org) if org else None)
                if watch:
                    click.clear()
                typer.echo(json.dumps(as_dict(found)) if as_json else render(found))
                if not watch:
                    return too_old(found, max_backlog_age)
                await asyncio.sleep(every)

    try:
        old = asyncio.run(run())
    except KeyboardInterrupt:
        return
    except (OSError, SQLAlchemyError) as exc:  # a probe wants one line, not a traceback
        typer.echo(f"cannot read the status: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from None
    if old:
        typer.echo(f"the backlog is older than {max_backlog_age:g} s", err=True)
        raise typer.Exit(1)


class ReplayStatus(StrEnum):
    failed = "failed"
    skipped = "skipped"


@events_app.command("replay")
def events_replay(
    status: ReplayStatus = typer.Option(..., "--status", help="Which finished events."),
    since: datetime | None = typer.Option(None, "--since", help="Accepted at or after (ISO 8601)."),
    action: str | None = typer.Option(None, "--action", help="Only this action type."),
    org: str | None = typer.Option(None, "--org", help="Only this organisation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be replayed."),
) -> None:
    """Run failed or skipped events again, e.g. after importing codes or creating users."""
    from src.domain.errors import DomainError
    from src.services.replay import replay
    from src.store import recovery
    from src.store.db import make_engine
    from src.workflows.client import connect
    from src.workflows.starter import TemporalRuns

    settings = _settings()
    when = since.replace(tzinfo=since.tzinfo or UTC) if since else None

    async def run() -> None:
        engine = make_engine(settings.require_database_url(), 2)
        try:
            async with engine.connect() as conn:
                found = await recovery.find_for_replay(conn, status.value, when, action, org)
            typer.echo(f"{len(found)} {status.value} events match")
            if dry_run or not found:
                for org_id, event_id in found:
                    typer.echo(f"  {org_id} {event_id}")
                return
            runs = TemporalRuns(await connect(settings), settings.task_queue)
            refused = 0
            with typer.progressbar(found, label="replaying") as bar:
                for org_id, event_id in bar:
                    try:
                        await replay(runs, engine, org_id, event_id)
                    except DomainError as exc:
                        refused += 1
                        typer.echo(f"\n  {event_id}: {exc.message}", err=True)
            typer.echo(f"replayed {len(found) - refused}, refused {refused}")
        finally:
            await engine.dispose()

    asyncio.run(run())


@campaigns_app.command("backtest")
def campaigns_backtest(
    campaign_id: str = typer.Argument(..., help="The campaign (drafts too)."),
    org: str = typer.Option(..., "--org", help="Its organisation."),
    start: datetime = typer.Option(..., "--from", help="Window start (ISO 8601)."),
    end: datetime = typer.Option(..., "--to", help="Window end, exclusive (ISO 8601)."),
) -> None:
    """What the campaign's current version would have granted over the org's stored actions
    in the window (nothing is granted); a progress bar follows the run, then the result."""
    from src.domain.backtests import BacktestStatus
    from src.services import backtests
    from src.store.db import make_engine
    from src.workflows.client import connect
    from src.workflows.starter import TemporalRuns

    settings = _settings()

    async def run() -> None:
        engine = make_engine(settings.require_database_url(), 2)
        try:
            runs = TemporalRuns(
                await connect(settings), settings.task_queue, settings.backtest_heartbeat_seconds
            )
            found = await backtests.request(
                engine,
                runs,
                org,
                campaign_id,
                start.replace(tzinfo=start.tzinfo or UTC),
                end.replace(tzinfo=end.tzinfo or UTC),
                personal=True,  # an operator with the database reads users anyway
            )
            typer.echo(f"backtest {found.id}: {found.total} stored actions")
            shown = 0
            with typer.progressbar(length=found.total, label="judging") as bar:
                while found.status == BacktestStatus.running:
                    await asyncio.sleep(0.5)
                    found = await backtests.get(engine, org, found.id)
                    bar.update(found.processed - shown)
                    shown = found.processed
            if found.status != BacktestStatus.completed:
                typer.echo(f"backtest {found.status}: {found.error}", err=True)
                raise typer.Exit(1)
            typer.echo(json.dumps(found.result, indent=2))
        finally:
            await engine.dispose()

    asyncio.run(run())


@app.command()
def dev() -> None:
    """Everything on this machine: embedded PostgreSQL and Temporal (unless DATABASE_URL /
    TEMPORAL_ADDRESS are set), migrations, a demo org, the worker and the API."""
    from src.cli.processes import STOPPING

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # Until the services take the signals over (``processes.run``), each unwinds what has
    # started as Ctrl-C does, embedded PostgreSQL and the Temporal dev server included.
    for sig in STOPPING:
        signal.signal(sig, interrupted)
    settings = get_settings()
    _logging(settings)
    data = Path(settings.data_dir)
    with ExitStack() as stack:
        if not settings.database_url:
            from src.cli.devstack import embedded_postgres

            settings = settings.model_copy(
                update={"database_url": stack.enter_context(embedded_postgres(data / "pgdata"))}
            )
        _serve(_dev(settings, data))


async def _dev(settings: Settings, data: Path) -> None:
    from src.cli import processes, stack
    from src.cli.demo import curl_example, ensure_demo, outcome_lists
    from src.cli.devstack import address_of, temporal_dev_server
    from src.store.db import make_engine, migrate
    from src.workflows.client import connect, register_search_attributes

    if not settings.payload_keys:
        settings = settings.model_copy(update={"payload_keys": _dev_payload_keys(data)})
    # Everything under `make dev` is local, webhook receivers too, and the codec endpoint
    # listens on loopback for the dev server's UI, which cannot send a token.
    settings = settings.model_copy(
        update={"webhooks_allow_private_targets": True, "codec_allow_unauthenticated": True}
    )
    codec = f"http://{settings.codec_host}:{settings.codec_port}"
    env = None
    if not settings.temporal_address:
        env = await temporal_dev_server(
            settings.temporal_namespace,
            data / "temporal.db",
            port=7233,
            ui_port=8233,
            codec_endpoint=codec,
        )
        settings = settings.model_copy(update={"temporal_address": address_of(env)})
    try:
        client = await connect(settings)
        await register_search_attributes(client)
        await migrate(settings.require_database_url())
        engine = make_engine(settings.require_database_url(), 2)
        try:
            creds = await ensure_demo(
                engine,
                data / "dev-credentials.json",
                f"http://{settings.api_host}:{settings.api_port}",
            )
        finally:
            await engine.dispose()
        ui = "http://127.0.0.1:8233" if env else f"(your Temporal at {settings.temporal_address})"
        typer.echo(
            f"\nLoyalty engine on http://{settings.api_host}:{settings.api_port}   "
            f"Temporal UI {ui} (payloads decoded by {codec})\n"
            f"Demo credentials in {data / 'dev-credentials.json'}:\n"
            f"  orgId {creds['orgId']}\n  apiKey {creds['apiKey']}\n"
            f"  apiSecret {creds['apiSecret']}\n\nIn another terminal, set the variables the "
            "examples in README.md and docs/ use, and send the integration guide's action:\n\n"
            f"{curl_example(creds)}\n"
        )
        if env:
            lists = outcome_lists(ui, settings.temporal_namespace)
            typer.echo("Actions that failed or were skipped, in the Temporal UI:")
            typer.echo("".join(f"  {outcome}: {url}\n" for outcome, url in lists.items()))
        found = stack.publish(data, settings)
        typer.echo(f"Other `loyalty` commands in this directory use this stack ({found}).\n")
        await processes.run(settings, codec=True)
    finally:
        stack.withdraw(data)
        if env is not None:
            await env.shutdown()


def _dev_payload_keys(data: Path) -> str:
    """``loyalty dev``'s own payload key, made once and kept in DATA_DIR."""
    from src.domain.sealing import new_key

    path = data / "payload-keys"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(new_key("dev") + "\n")
    return path.read_text().strip()


@app.command("payload-key")
def payload_key() -> None:
    """Print a new key for PAYLOAD_KEYS (put it first to rotate; keep the old ones after it)."""
    from src.domain.sealing import new_key

    typer.echo(new_key())


@app.command()
def reseal() -> None:
    """Seal every stored secret again with the first key of PAYLOAD_KEYS (after a rotation,
    before dropping the old key)."""
    from src.services import webhooks

    settings = _settings()

    async def run() -> tuple[int, list[str]]:
        async with _engine(settings) as engine:
            return await webhooks.reseal(engine, settings.sealer())

    changed, unopened = asyncio.run(run())
    typer.echo(f"webhook secrets sealed again: {changed}")
    if unopened:
        typer.echo(f"secrets no key in PAYLOAD_KEYS opens: {', '.join(unopened)}", err=True)
        raise typer.Exit(1)


@app.command("codec-server")
def codec_server() -> None:
    """Serve the codec endpoint that lets the Temporal UI show sealed payloads decoded."""
    from src.cli import processes
    from src.workflows.codec_server import check_guard

    settings = get_settings()
    check_guard(settings)  # a ConfigurationError: one line (see _Loyalty)
    _logging(settings)
    _serve(processes.run(settings, api=False, worker=False, codec=True))
