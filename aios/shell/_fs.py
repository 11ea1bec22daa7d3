"""`fs` shell commands: an agent's files on its behalf — ls, cat, write, rm, mv, cp, log, diff, rollback,
find "<meaning>", summarize, watch, trees — plus admin import/export with progress bars.
Importing this module registers the group on the shell's commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.syntax import Syntax
from rich.table import Table

from aios.client import FileChangeRecord, FileVersion, TransferProgress
from aios.shell._line import free_text
from aios.shell._state import ShellState, clip, commands, pass_state, when

__all__ = ["fs"]

tree_option = click.option("--tree", default="", help="A shared tree instead of the agent's own.")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


@commands.group()
def fs() -> None:
    """An agent's files (AGENT is a name or id): versioned, restorable, findable by meaning."""


@fs.command("ls")
@click.argument("agent")
@click.argument("path", default="/")
@click.option("-r", "--recursive", is_flag=True)
@click.option("--glob", default="", help='fnmatch pattern, e.g. "*.md".')
@click.option("--deleted", is_flag=True, help="Include deleted files.")
@tree_option
@pass_state
def fs_ls(state: ShellState, agent: str, path: str, recursive: bool, glob: str, deleted: bool, tree: str) -> None:
    """List a directory."""
    table = Table("path", "version", "size", "mime", "modified")
    for f in state.as_agent(agent).list_files(path, tree=tree, glob=glob, recursive=recursive, include_deleted=deleted):
        name = f.path + ("/" if f.is_dir else "")
        table.add_row(f"[strike]{name}[/]" if f.deleted else name, str(f.version), "" if f.is_dir else _size(f.size),
                      f.mime, when(f.modified_at))  # fmt: skip
    state.console.print(table)


@fs.command("cat")
@click.argument("agent")
@click.argument("path")
@click.option("-v", "--version", type=int, default=0, help="An older version.")
@tree_option
@pass_state
def fs_cat(state: ShellState, agent: str, path: str, version: int, tree: str) -> None:
    """Print a file."""
    data = state.as_agent(agent).read_file(path, tree=tree, version=version)
    try:
        state.console.print(data.decode(), markup=False, highlight=False, end="")
    except UnicodeDecodeError:
        state.console.print(f"[dim]binary, {len(data)} bytes[/]")


@fs.command("write")
@click.argument("agent")
@click.argument("path")
@free_text("text", required=False)
@click.option("--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Upload this local file instead of TEXT.")  # fmt: skip
@click.option("-a", "--append", is_flag=True)
@click.option("--if-version", "expected", type=int, help="Only if the file is at this version (0: new).")
@tree_option
@pass_state
def fs_write(state: ShellState, agent: str, path: str, text: tuple[str, ...], source: Path | None, append: bool,
             expected: int | None, tree: str) -> None:  # fmt: skip
    """Write TEXT (or --from a local file) to PATH as a new version."""
    client = state.as_agent(agent)
    if source is not None:
        with open(source, "rb") as f:
            info = client.write_file(path, f, tree=tree, append=append, expected_version=expected)
    else:
        info = client.write_file(path, state.text(text) + "\n", tree=tree, append=append, expected_version=expected)
    state.console.print(f"{info.path} version {info.version} ({_size(info.size)}, change {info.change_id})")


@fs.command("rm")
@click.argument("agent")
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True)
@tree_option
@pass_state
def fs_rm(state: ShellState, agent: str, path: str, recursive: bool, tree: str) -> None:
    """Delete (a new version: `fs rollback` brings it back)."""
    change = state.as_agent(agent).delete_file(path, tree=tree, recursive=recursive)
    state.console.print(f"change {change.change_id}: deleted {len(change.files)} entries")


@fs.command("mv")
@click.argument("agent")
@click.argument("src")
@click.argument("dst")
@tree_option
@pass_state
def fs_mv(state: ShellState, agent: str, src: str, dst: str, tree: str) -> None:
    """Move a file or directory."""
    info = state.as_agent(agent).move(src, dst, tree=tree)
    state.console.print(f"moved to {info.path} (change {info.change_id})")


@fs.command("cp")
@click.argument("agent")
@click.argument("src")
@click.argument("dst")
@tree_option
@pass_state
def fs_cp(state: ShellState, agent: str, src: str, dst: str, tree: str) -> None:
    """Copy a file or directory."""
    info = state.as_agent(agent).copy(src, dst, tree=tree)
    state.console.print(f"copied to {info.path} (change {info.change_id})")


@fs.command("log")
@click.argument("agent")
@click.argument("path", default="/")
@click.option("-n", "limit", default=30, show_default=True)
@tree_option
@pass_state
def fs_log(state: ShellState, agent: str, path: str, limit: int, tree: str) -> None:
    """A file's versions, or a directory's changes (one row each, with the files it made new versions of),
    newest first; `fs rollback -c CHANGE` brings the state right after a change back."""
    rows = state.as_agent(agent).file_history(path, tree=tree, limit=limit)
    changes = bool(rows) and isinstance(rows[0], FileChangeRecord)
    table = Table("change", "at", "op", "path", *(("by", "files") if changes else ("version", "size")), "detail")
    for r in rows:
        if isinstance(r, FileChangeRecord):
            table.add_row(str(r.change_id), when(r.at), r.op, r.path, state.agent_name(r.agent_id),
                          "\n".join(map(_touched, r.files)), r.detail)  # fmt: skip
        else:
            table.add_row(str(r.change_id), when(r.at), r.op, r.path, str(r.version),
                          "" if r.deleted else _size(r.size), r.detail)  # fmt: skip
    state.console.print(table)


def _touched(v: FileVersion) -> str:
    sized = v.sha256 and not v.deleted  # a file's content; a directory has none
    return f"{v.op} {v.path} v{v.version}" + (f" ({_size(v.size)})" if sized else "")


@fs.command("diff")
@click.argument("agent")
@click.argument("path")
@click.argument("from_version", type=int)
@click.argument("to_version", type=int, default=0)
@tree_option
@pass_state
def fs_diff(state: ShellState, agent: str, path: str, from_version: int, to_version: int, tree: str) -> None:
    """Unified diff between two versions (TO_VERSION 0: the current one)."""
    diff = state.as_agent(agent).diff(path, from_version, to_version, tree=tree)
    state.console.print(Syntax(diff, "diff") if diff else "[dim]no difference[/]")


@fs.command("rollback")
@click.argument("agent")
@click.argument("path", default="/")
@click.option("-v", "--version", type=int, help="A version of the file.")
@click.option("-c", "--change", "change_id", type=int, help="The state right after this change (see fs log).")
@click.option("--at", type=click.DateTime(), help="The state at this local time.")
@tree_option
@pass_state
def fs_rollback(state: ShellState, agent: str, path: str, version: int | None, change_id: int | None,
                at: datetime | None, tree: str) -> None:  # fmt: skip
    """Restore a file or a directory tree; the rollback is itself a change you can roll back."""
    change = state.as_agent(agent).rollback(path, tree=tree, version=version, change_id=change_id,
                                        at=at.timestamp() if at else None)  # fmt: skip
    state.console.print(f"change {change.change_id}: restored {len(change.files)} entries")
    for f in change.files:
        state.console.print(f"  {'deleted ' if f.deleted else ''}{f.path} -> version {f.version}")


@fs.command("find")
@click.argument("agent")
@free_text("meaning")
@click.option("-k", default=5, show_default=True)
@click.option("--under", "path_prefix", default="/", help="Only below this directory.")
@click.option("--glob", default="")
@click.option("--keyword", "keywords", multiple=True, help="Must occur in the passage (repeatable).")
@click.option("--all-trees", is_flag=True, help="Every tree the agent can read.")
@tree_option
@pass_state
def fs_find(state: ShellState, agent: str, meaning: tuple[str, ...], k: int, path_prefix: str, glob: str,
            keywords: tuple[str, ...], all_trees: bool, tree: str) -> None:  # fmt: skip
    """Find files by meaning (and words), with their best passage."""
    hits = state.as_agent(agent).retrieve(state.text(meaning), k, tree=tree, path_prefix=path_prefix, glob=glob,
                                      keywords=list(keywords), all_trees=all_trees)  # fmt: skip
    table = Table("score", "tree", "path", "passage")
    for h in hits:
        table.add_row(
            f"{h.score:.3f}", h.file.tree or "~", h.file.path, clip(h.passages[0].text if h.passages else "", 70)
        )
    state.console.print(table)


@fs.command("summarize")
@click.argument("agent")
@click.argument("path")
@click.option("-v", "--version", type=int, default=0)
@tree_option
@pass_state
def fs_summarize(state: ShellState, agent: str, path: str, version: int, tree: str) -> None:
    """Summarize a file (the LLM through the scheduler; extractive without one; cached per version)."""
    s = state.as_agent(agent).summarize(path, tree=tree, version=version)
    state.console.print(f"[bold]{s.path}[/] v{s.version} [dim]({s.method}{', cached' if s.cached else ''})[/]")
    state.console.print(s.text, markup=False)


@fs.command("watch")
@click.argument("agent")
@click.argument("prefix", default="/")
@click.option("--for", "seconds", type=float, default=None, help="Stop after this many seconds.")
@tree_option
@pass_state
def fs_watch(state: ShellState, agent: str, prefix: str, seconds: float | None, tree: str) -> None:
    """Print change events under PREFIX as they happen (Ctrl-C stops)."""
    events = state.as_agent(agent).watch(prefix, tree=tree, timeout=seconds)
    until = f"for {seconds:g} s" if seconds else "until Ctrl-C"
    state.console.print(f"[dim]watching {prefix} {until}[/]")
    try:
        for e in events:
            by = state.agent_name(e.agent_id)
            state.console.print(f"{when(e.at)} change {e.change_id} {e.op:8} {e.path} v{e.version} by {by}")
    except KeyboardInterrupt:
        pass
    finally:
        events.close()


@fs.command("trees")
@click.argument("agent")
@pass_state
def fs_trees(state: ShellState, agent: str) -> None:
    """Trees the agent owns or was granted."""
    table = Table("tree", "kind", "owner", "access", "grants")
    for t in state.as_agent(agent).list_trees():
        grants = " ".join(f"{state.agent_name(a)}:{m}" for a, m in t.grants.items())
        table.add_row(t.name or "~", t.kind, state.agent_name(t.owner_id), t.access, grants)
    state.console.print(table)


@fs.command("import")
@click.argument("agent")
@click.argument("host_path", type=click.Path(file_okay=False, path_type=Path))
@click.argument("dest", default="/")
@tree_option
@pass_state
def fs_import(state: ShellState, agent: str, host_path: Path, dest: str, tree: str) -> None:
    """Copy a directory of the kernel's machine into the agent's tree, as one change."""
    steps = state.client.import_dir(state.agent_id(agent), str(host_path.resolve()), dest, tree=tree)
    last = _with_progress(state, "import", steps)
    state.console.print(f"imported {last.done} files ({_size(last.bytes)}) into {dest}")


@fs.command("export")
@click.argument("agent")
@click.argument("host_path", type=click.Path(path_type=Path))
@click.argument("path", default="/")
@click.option("-c", "--change", "change_id", type=int, default=0, help="As of this change (0: now).")
@tree_option
@pass_state
def fs_export(state: ShellState, agent: str, host_path: Path, path: str, change_id: int, tree: str) -> None:
    """Write the agent's files (as they are, or as of a change) into a new directory of the kernel's machine."""
    steps = state.client.export_tree(state.agent_id(agent), str(host_path.resolve()), path, tree=tree,
                                     change_id=change_id)  # fmt: skip
    last = _with_progress(state, "export", steps)
    state.console.print(f"exported {last.done} files ({_size(last.bytes)}) to {host_path}")


def _with_progress(state: ShellState, label: str, steps: Iterator[TransferProgress]) -> TransferProgress:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    last = TransferProgress(0, 0, 0, "")
    with Progress(*columns, console=state.console) as progress:
        task = progress.add_task(label, total=None)
        for last in steps:
            progress.update(task, completed=last.done, total=last.total)
    return last
