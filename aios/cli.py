"""The `aios` command: `serve` runs the kernel, `shell` administers it, `admin` holds one-shot tasks."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler

from aios.config import DEFAULT_PORT, load_config
from aios.errors import AiosError

__all__ = ["main"]

log = logging.getLogger("aios")
_DATA_DIR = click.option(
    "--data-dir", envvar="AIOS_DATA_DIR", type=click.Path(file_okay=False, path_type=Path),
    help="Kernel data directory [env AIOS_DATA_DIR; default ./aios-data].",
)  # fmt: skip


def _stash_tls(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """The TLS options reach load_config / the client through the context: the commands' signatures stay as is."""
    ctx.meta.setdefault("aios.tls", {})[param.name] = value


def _tls_options(*specs: tuple[str, str, str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options (flag, env var, help) whose values `_tls` returns, by option name."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for flag, env, text in reversed(specs):
            command = click.option(flag, envvar=env, expose_value=False, callback=_stash_tls,
                                   type=click.Path(dir_okay=False), help=f"{text} [env {env}].")(command)  # fmt: skip
        return command

    return decorate


def _tls() -> dict[str, Any]:
    return dict(click.get_current_context().meta.get("aios.tls", {}))


_SERVE_TLS = _tls_options(
    ("--tls-cert", "AIOS_TLS_CERT", "PEM certificate (chain) of the kernel: TLS on its ports, with --tls-key"),
    ("--tls-key", "AIOS_TLS_KEY", "PEM private key of --tls-cert"),
    ("--tls-client-ca", "AIOS_TLS_CLIENT_CA", "PEM CA: clients must show a certificate it signed (mutual TLS)"),
)
_CLIENT_TLS = _tls_options(
    ("--tls-ca", "AIOS_TLS_CA", "PEM CA the kernel's certificate is checked against: connect with TLS"),
    ("--tls-client-cert", "AIOS_TLS_CLIENT_CERT", "PEM certificate to show a kernel that asks for one (with --tls-ca)"),
    ("--tls-client-key", "AIOS_TLS_CLIENT_KEY", "PEM private key of --tls-client-cert"),
)


@click.group()
@click.version_option(package_name="aios")
def main() -> None:
    """aios: an agent memory operating system."""


@main.command()
@_DATA_DIR
@click.option("--port", envvar="AIOS_PORT", type=int, help=f"gRPC port [env AIOS_PORT; default {DEFAULT_PORT}].")
@click.option("--host", envvar="AIOS_HOST", help="Bind address [env AIOS_HOST; default 127.0.0.1].")
@click.option("--http-port", envvar="AIOS_HTTP_PORT", type=int,
              help=f"HTTP port (OpenAI-compatible /v1, /health, /ready, /metrics); 0: any free one, -1: off "
              f"[env AIOS_HTTP_PORT; default {DEFAULT_PORT + 1}].")  # fmt: skip
@click.option("--config", "config_file", envvar="AIOS_CONFIG", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file [env AIOS_CONFIG; default <data-dir>/aios.toml].")  # fmt: skip
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", envvar="AIOS_LOG_FORMAT",
              show_default=True, help="text: one plain line per record (coloured on a terminal); json: one JSON "
              "object per line (time, level, logger, message) [env AIOS_LOG_FORMAT].")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Debug logging (with the periodic jobs' runs).")
@_SERVE_TLS
def serve(data_dir: Path | None, port: int | None, host: str | None, http_port: int | None,  # type: ignore[no-untyped-def]
          config_file: Path | None, log_format: str, verbose: bool):  # fmt: skip
    """Run the kernel until SIGTERM or Ctrl-C (a second Ctrl-C exits at once, status 130).

    While it runs, the kernel writes its address to <data-dir>/kernel.addr, where `aios shell` finds it.
    """
    _setup_logging(verbose, log_format)
    os.umask(0o077)  # what the kernel writes (database, blobs, index, KV spills) is its user's alone
    try:
        config = load_config(config_file, data_dir=data_dir, port=port, host=host, http_port=http_port, **_tls())
        asyncio.run(_serve(config))
    except AiosError as exc:
        raise click.ClickException(exc.message) from None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _setup_logging(verbose: bool, log_format: str) -> None:
    if log_format == "json":
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        handler = RichHandler(console=Console(stderr=True), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # a file or a pipe: whole lines, never wrapped to a terminal's width
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if log_format == "json" or not sys.stderr.isatty():
        # Model loading draws tqdm progress bars on stderr: noise between log lines, not JSON.
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    for chatty in ("alembic.runtime.plugins", "apscheduler.scheduler"):  # a line per plugin, per job added
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)


_EXIT_INTERRUPTED = 130  # the shell convention for "killed by SIGINT"


async def _serve(config) -> None:  # type: ignore[no-untyped-def]
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from aios.kernel import ADMIN_TOKEN_FILE, Kernel

    kernel = Kernel(config)
    await kernel.start()
    # What start-up loaded (torch, the models, the libraries: ~500k objects) lives as long as the process. Out of the
    # collector's sight, a full collection no longer walks it: each one stalled every thread for seconds on a busy
    # machine, and the one at exit made a SIGTERM take ~9 s more.
    gc.collect()
    gc.freeze()
    log.info("admin token in %s", config.data_dir / ADMIN_TOKEN_FILE)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    interrupts = 0

    def interrupted(signum: int, frame: object) -> None:
        # A plain signal handler, not the loop's: it runs even while a step of the shutdown holds the loop.
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            loop.call_soon_threadsafe(stop.set)
            log.info("stopping; press Ctrl-C again to exit at once")
            return
        log.warning("second interrupt: exiting without draining")
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(_EXIT_INTERRUPTED)

    signal.signal(signal.SIGINT, interrupted)
    print(f"aios kernel ready on {kernel.target}", flush=True)
    await stop.wait()
    log.info("draining in-flight syscalls (grace %.1fs)", config.grace_period_s)
    await kernel.stop()
    log.info("kernel stopped")


def _client(target: str | None, token: str | None, data_dir: Path | None):  # type: ignore[no-untyped-def]
    from aios.client import Client
    from aios.config import ADDRESS_FILE, ADMIN_TOKEN_FILE

    data_dir = data_dir or Path("aios-data")
    if not token:
        token_file = data_dir / ADMIN_TOKEN_FILE
        if not token_file.exists():
            raise click.ClickException(
                f"no token: pass --token, set AIOS_ADMIN_TOKEN, or point --data-dir at the kernel's "
                f"({token_file} missing)"
            )
        token = token_file.read_text().strip()
    if not target:
        address_file = data_dir / ADDRESS_FILE
        if address_file.exists():
            target = address_file.read_text().strip()
        else:
            target = f"127.0.0.1:{os.environ.get('AIOS_PORT') or DEFAULT_PORT}"
    tls = _tls()
    cert, key = tls.get("tls_client_cert"), tls.get("tls_client_key")
    if bool(cert) != bool(key) or (cert and not tls.get("tls_ca")):
        raise click.ClickException("--tls-client-cert and --tls-client-key go together, and with --tls-ca")
    try:
        return Client(target, token, tls=bool(tls.get("tls_ca")), root_certificates=tls.get("tls_ca"),
                      certificate_chain=cert, private_key=key)  # fmt: skip
    except AiosError as exc:
        raise click.ClickException(exc.message) from None


_TARGET = click.option(
    "--target", envvar="AIOS_TARGET",
    help="Kernel address host:port [env AIOS_TARGET; default: <data-dir>/kernel.addr of the running kernel, "
    f"else 127.0.0.1:$AIOS_PORT or {DEFAULT_PORT}].",
)  # fmt: skip
_TOKEN = click.option(
    "--token", envvar="AIOS_ADMIN_TOKEN",
    help="Admin token [env AIOS_ADMIN_TOKEN; default <data-dir>/admin.token]. AIOS_TOKEN is an agent's token "
    "(the SDK reads it) and is never used here.",
)  # fmt: skip


@main.command()
@click.option("-c", "command", help="Run one command and exit (status 1 if it failed).")
@_TARGET
@_TOKEN
@_CLIENT_TLS
@_DATA_DIR
def shell(command: str | None, target: str | None, token: str | None, data_dir: Path | None) -> None:
    """The admin shell: agents, ps, stats, search ... ('help' inside lists them).

    It needs the admin token (--token, $AIOS_ADMIN_TOKEN or the data dir's admin.token) and finds the kernel
    through --target, $AIOS_TARGET or the data dir's kernel.addr. Ids may be shortened to a unique prefix;
    agents may be named.
    """
    from aios.shell import repl, run_command

    console = Console()
    with _client(target, token, data_dir) as client:
        if command is not None:
            sys.exit(0 if run_command(command, client, console) else 1)
        repl(client, console, Path.home() / ".aios" / "shell_history")


@main.command()
@_TARGET
@_CLIENT_TLS
@_DATA_DIR
def mcp(target: str | None, data_dir: Path | None) -> None:
    """Serve MCP over stdio as the agent of $AIOS_TOKEN, for desktop and IDE clients: memory, files and core
    blocks as tools and resources, each call that agent's syscall. The kernel is found as `aios shell` finds it."""
    from aios.mcp import resolve_target, run_stdio

    token = os.environ.get("AIOS_TOKEN")
    if not token:
        raise click.ClickException("no token: set AIOS_TOKEN to the agent's token")
    tls = _tls()
    options = {"tls": True, "root_certificates": tls["tls_ca"], "certificate_chain": tls.get("tls_client_cert"),
               "private_key": tls.get("tls_client_key")} if tls.get("tls_ca") else {}  # fmt: skip
    run_stdio(resolve_target(target, data_dir), token, options)


@main.group()
def admin() -> None:
    """One-shot admin tasks against a running kernel."""


@admin.command()
@click.option("--agent", help="Only this agent's notes (id).")
@click.option("--files", is_flag=True, help="The file system's semantic index instead of memory's.")
@_TARGET
@_TOKEN
@_CLIENT_TLS
@_DATA_DIR
def reindex(agent: str | None, files: bool, target: str | None, token: str | None, data_dir: Path | None) -> None:
    """Rebuild the vector index from SQL, with a progress bar."""
    from aios.shell import reindex_with_progress

    with _client(target, token, data_dir) as client:
        try:
            reindex_with_progress(client, agent, Console(), files)
        except AiosError as exc:
            raise click.ClickException(f"{exc.code.lower()}: {exc.message}") from None


@admin.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--last", "last_s", type=float, default=0.0, help="Only the last N seconds.")
@_TARGET
@_TOKEN
@_CLIENT_TLS
@_DATA_DIR
def timeline(path: Path, last_s: float, target: str | None, token: str | None, data_dir: Path | None) -> None:
    """Write an SVG timeline of the LLM scheduler (who ran on the model when)."""
    from aios.shell import write_timeline

    with _client(target, token, data_dir) as client:
        try:
            n = write_timeline(client, path, last_s)
        except AiosError as exc:
            raise click.ClickException(f"{exc.code.lower()}: {exc.message}") from None
    click.echo(f"wrote {path} ({n} slices)")


@admin.command()
@_DATA_DIR
@click.option("--config", "config_file", envvar="AIOS_CONFIG", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file [env AIOS_CONFIG; default <data-dir>/aios.toml].")  # fmt: skip
def doctor(data_dir: Path | None, config_file: Path | None) -> None:
    """List what start-up repair quarantined: kept in the database, skipped at each start, never deleted.

    It reads the kernel's database directly (running or not: a kernel that cannot start is when it matters).
    """
    import sqlalchemy as sa

    from aios._db import create_engine
    from aios.memory.context.service import quarantined

    try:
        config = load_config(config_file, data_dir=data_dir)
    except AiosError as exc:
        raise click.ClickException(exc.message) from None
    if not config.data_dir.is_dir():
        raise click.ClickException(f"no data directory {config.data_dir}")
    engine = create_engine(config.sqlalchemy_url)
    try:
        items = quarantined(engine) if sa.inspect(engine).has_table("ctx_quarantine") else []
    finally:
        engine.dispose()
    if not items:
        click.echo("nothing quarantined")
    for q in items:
        at = datetime.fromtimestamp(q.at, UTC).isoformat(timespec="seconds")
        click.echo(f"quarantined {at}: context message {q.message_id} of agent {q.agent_id}: {q.reason}")


if __name__ == "__main__":
    main()
