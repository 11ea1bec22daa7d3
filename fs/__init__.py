"""The semantic file system (LSFS): versioned trees of files, findable by meaning."""

from fs.blobs import Blob, BlobStore
from fs.index import SemanticIndex
from fs.models import (
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
from fs.semantic import FileSemantics
from fs.service import FileService
from fs.transfer import export_tree, import_dir
from fs.trees import TreeRef

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
