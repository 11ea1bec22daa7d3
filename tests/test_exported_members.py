"""Pins the public names of each package (httpx tests/test_exported_members.py)."""

import importlib

import pytest

EXPECTED = {
    "aios": ["__version__"],
    "aios.client": [
        "Agent", "AgentCredentials", "AgentStats", "AsyncClient", "Client", "Completion", "CompletionChunk",
        "ConsolidationReport",
        "Identity", "KernelStats", "LLMAgentStats", "MemoryStats", "ModelInfo", "NewNote", "Note", "NoteLink",
        "NoteVersion", "QueueStats", "ReindexProgress",
        "SchedulerEvent", "SchedulerState", "SearchHit", "SubsystemStatus", "Syscall", "Timing", "Usage",
        "WaitingRequest",
        "AssembledContext", "ContextChunk", "ContextEvent", "ContextMessage", "ContextReply", "ContextSection",
        "ContextStats", "ContextUpdate", "CoreBlock", "KVSwap", "Pressure", "RecallHit", "RecalledItem",
        "FileChange", "FileChangeRecord", "FileEvent", "FileGroup", "FileHit", "FileInfo", "FileSummary",
        "FileTree", "FileVersion",
        "Passage", "PassagePair", "TransferProgress", "RemoteFile",
    ],
    "aios.shell": [
        "WHOLE_ID", "ShellState", "Word", "clip", "commands", "free_text", "pass_state", "reindex_with_progress",
        "repl", "resolve_prefix", "run_command", "split_line", "when", "write_timeline",
    ],
    "aios.llm": [
        "AgentLLMStats", "Backend", "ChatMessage", "LLMPort", "Completion", "JobClass", "LLMCore", "LLMRequest",
        "LLMService",
        "ModelInfo", "Policy", "RunEvent", "SamplingParams", "Scheduler", "SchedulerConfig", "SchedulerState",
        "Usage", "jain_index",
    ],
    "aios.mcp": ["McpHttp", "build_server", "resolve_target", "run_stdio"],
    "aios.http": [
        "CONTEXT_MODEL", "ClientPool", "HttpServer", "KernelHooks", "Lifespan", "Readiness", "TlsFiles", "readiness",
        "build_app",
    ],
    "aios.errors": [
        "AiosError", "InvalidArgument", "NotFound", "AlreadyExists", "PermissionDenied", "Unauthenticated",
        "ResourceExhausted", "FailedPrecondition", "Cancelled", "DeadlineExceeded", "Unavailable",
        "Unimplemented", "InternalError", "error_for_code",
    ],
    "aios.agents": ["Agent", "AgentService", "Principal"],
    "aios.fs": [
        "Blob", "BlobStore", "ChangeRecord", "ChangeResult", "ChunkHit", "FileEvent", "FileGroup", "FileHistory",
        "FileInfo", "FileSemantics", "FileService", "FileVersion", "PassagePair", "RetrieveFilters", "RetrieveHit",
        "SemanticIndex",
        "Summary", "Transfer", "Tree", "TreeRef", "export_tree", "import_dir",
    ],
    "aios.memory": [
        "ForgettingConfig", "Link", "MemoryService", "MemoryStats", "NewNote", "Note", "NoteUpdate", "NoteVersion",
        "RepairReport", "SearchFilters", "SearchHit", "retention", "strengthened",
    ],
    "aios.memory.context": [
        "AssembledContext", "ContextEvent", "ContextMessage", "ContextService", "ContextStats", "ContextUpdate",
        "CoreBlock", "Pressure", "RecallHit", "RecalledItem", "Section", "TurnResult",
    ],
    "aios.syscalls": [
        "Access", "Caller", "Job", "ResourceQueue", "SyscallRecord", "SyscallRuntime", "SyscallServer",
        "SyscallStatus", "SyscallTable",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_members(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPECTED[module])
    for name in mod.__all__:
        assert hasattr(mod, name)


def test_subsystems_do_not_import_grpc() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for package in ("memory", "agents", "fs"):
        for path in (root / "aios" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                assert not any(n.startswith("grpc") or "_pb2" in n or "_proto" in n for n in names), path


def test_every_error_round_trips_through_its_code() -> None:
    from aios import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.AiosError) and cls is not errors.AiosError:
            assert type(errors.error_for_code(cls.code, "m")) is cls
