"""The semantic file system (LSFS): versioned trees of files, findable by meaning."""

from aios.fs.blobs import Blob, BlobStore
from aios.fs.index import SemanticIndex
from aios.fs.models import (
    ChangeRecord,
    ChangeResult,
    ChunkHit,
    FileEvent,
    FileGroup,
    FileHistory,
    FileInfo,
    FileVersion,
    PassagePair,
    RetrieveFilters,
    RetrieveHit,
    Summary,
    Transfer,
    Tree,
)
from aios.fs.semantic import FileSemantics
from aios.fs.service import FileService
from aios.fs.transfer import export_tree, import_dir
from aios.fs.trees import TreeRef

__all__ = [
    "Blob",
    "BlobStore",
    "ChangeRecord",
    "ChangeResult",
    "ChunkHit",
    "FileEvent",
    "FileGroup",
    "FileHistory",
    "FileInfo",
    "FileSemantics",
    "FileService",
    "FileVersion",
    "PassagePair",
    "RetrieveFilters",
    "RetrieveHit",
    "SemanticIndex",
    "Summary",
    "Transfer",
    "Tree",
    "TreeRef",
    "export_tree",
    "import_dir",
]
