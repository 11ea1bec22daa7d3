"""The gRPC face of the kernel: servicers, syscall records, per-resource queues and dispatch."""

from syscalls.dispatch import Access, Caller, SyscallRuntime
from syscalls.queues import Job, ResourceQueue
from syscalls.records import SyscallRecord, SyscallStatus, SyscallTable
from syscalls.server import SyscallServer

__all__ = [
    "Access",
    "Caller",
    "Job",
    "ResourceQueue",
    "SyscallRecord",
    "SyscallRuntime",
    "SyscallServer",
    "SyscallStatus",
    "SyscallTable",
]
