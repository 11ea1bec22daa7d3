"""The `aios` command: `serve` runs the kernel, `shell` administers it, `admin` holds one-shot tasks."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

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


@click.group()
@click.version_option(package_name="aios")
def main() -> None:
    """aios: an agent memory operating system."""


@main.command()
@_DATA_DIR
@click.option("--port", envvar="AIOS_PORT", type=int, help=f"gRPC port [env AIOS_PORT; default {DEFAULT_PORT}].")
@click.option("--host", envvar="AIOS_HOST", help="Bind address [env AIOS_HOST; default 127.0.0.1].")
@click.option("--config", "config_file", envvar="AIOS_CONFIG", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file [env AIOS_CONFIG; default <data-dir>/aios.toml].")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def serve(data_dir: Path | None, port: int | None, host: str | None, config_file: Path | None, verbose: bool):  # type: ignore[no-untyped-def]
    """Run the kernel until SIGTERM or Ctrl-C."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )  # fmt: skip
    try:
        config = load_config(config_file, data_dir=data_dir, port=port, host=host)
        asyncio.run(_serve(config))
    except AiosError as exc:
        raise click.ClickException(exc.message) from None


async def _serve(config) -> None:  # type: ignore[no-untyped-def]
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from aios.kernel import ADMIN_TOKEN_FILE, Kernel

    kernel = Kernel(config)
    await kernel.start()
    log.info("admin token in %s", config.data_dir / ADMIN_TOKEN_FILE)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"aios kernel ready on {kernel.target}", flush=True)
    await stop.wait()
    log.info("draining in-flight syscalls (grace %.1fs)", config.grace_period_s)
    await kernel.stop()
    log.info("kernel stopped")


def _client(target: str | None, token: str | None, data_dir: Path | None):  # type: ignore[no-untyped-def]
    from aios.client import Client
    from aios.kernel import ADMIN_TOKEN_FILE

    if not token:
        token_file = (data_dir or Path("aios-data")) / ADMIN_TOKEN_FILE
        if not token_file.exists():
            raise click.ClickException(
                f"no token: pass --token, set AIOS_TOKEN, or point --data-dir at the kernel's ({token_file} missing)"
            )
        token = token_file.read_text().strip()
    if not target:
        target = f"127.0.0.1:{os.environ.get('AIOS_PORT') or DEFAULT_PORT}"
    return Client(target, token)


_TARGET = click.option("--target", envvar="AIOS_TARGET", help="Kernel address host:port [env AIOS_TARGET].")
_TOKEN = click.option("--token", envvar="AIOS_TOKEN", help="Admin token [env AIOS_TOKEN; default from the data dir].")


@main.command()
@click.option("-c", "command", help="Run one command and exit (status 1 if it failed).")
@_TARGET
@_TOKEN
@_DATA_DIR
def shell(command: str | None, target: str | None, token: str | None, data_dir: Path | None) -> None:
    """The admin shell: agents, ps, stats, search ... ('help' inside lists them)."""
    from aios.shell import repl, run_command

    console = Console()
    with _client(target, token, data_dir) as client:
        if command is not None:
            sys.exit(0 if run_command(command, client, console) else 1)
        repl(client, console, Path.home() / ".aios" / "shell_history")


@main.group()
def admin() -> None:
    """One-shot admin tasks against a running kernel."""


@admin.command()
@click.option("--agent", help="Only this agent's notes (id).")
@click.option("--files", is_flag=True, help="The file system's semantic index instead of memory's.")
@_TARGET
@_TOKEN
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


if __name__ == "__main__":
    main()
