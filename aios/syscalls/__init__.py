"""The gRPC face of the kernel: one module per service, and the runtime every syscall goes through.

Adding a syscall:
1. Declare the RPC and its messages in `proto/aios/v1/<service>.proto`, then `make protos`.
2. In that service's module here (admin, memory, llm, files, context), add a method named as the RPC and
   decorated with `@unary(kind, resource, access)` (or `server_stream`, `client_stream`): it converts the
   request with the module's `from_proto_*`, calls one subsystem method and returns the module's `to_proto_*`
   of the result. The decorator does the rest: authentication, the syscall record, the resource's queue, every
   gRPC status. The server registers every RPC of a servicer from its generated base class.
3. The subsystem method (memory/, fs/, aios/memory/context/, aios/llm/, agents/): plain Python raising `aios.errors`.
4. The SDK method (aios/client), and a test.

The rest of the package, by job: `runtime` admits a call (token, act-as, priority, record), `dispatch` runs it on
its queue (`queues`, `records`), `status` turns its errors into gRPC statuses, `streams` bounds and ends
streaming calls, `decoding` refuses requests that do not decode, `limits` bounds what a request may hold,
`convert` holds the conversions the service modules share, `server` is the gRPC server.
"""

from aios.syscalls.queues import Job, ResourceQueue
from aios.syscalls.records import SyscallRecord, SyscallStatus, SyscallTable
from aios.syscalls.runtime import Access, Caller, SyscallRuntime
from aios.syscalls.server import SyscallServer

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
