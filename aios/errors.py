"""One error tree for the kernel and the SDK.

Each error names its gRPC status code as a string, so subsystems raise these without importing grpc;
the server (aios/syscalls/_errors.py) and the SDK (aios/client/_errors.py) each translate in one place.
"""

from __future__ import annotations

__all__ = [
    "AiosError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "Unauthenticated",
    "ResourceExhausted",
    "FailedPrecondition",
    "Cancelled",
    "DeadlineExceeded",
    "Unavailable",
    "Unimplemented",
    "InternalError",
    "error_for_code",
]


class AiosError(Exception):
    """Root of every error aios raises. `code` is the gRPC status code's name."""

    code = "UNKNOWN"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(AiosError):
    code = "INVALID_ARGUMENT"


class NotFound(AiosError):
    code = "NOT_FOUND"


class AlreadyExists(AiosError):
    code = "ALREADY_EXISTS"


class PermissionDenied(AiosError):
    code = "PERMISSION_DENIED"


class Unauthenticated(AiosError):
    code = "UNAUTHENTICATED"


class ResourceExhausted(AiosError):
    code = "RESOURCE_EXHAUSTED"


class FailedPrecondition(AiosError):
    code = "FAILED_PRECONDITION"


class Cancelled(AiosError):
    code = "CANCELLED"


class DeadlineExceeded(AiosError):
    code = "DEADLINE_EXCEEDED"


class Unavailable(AiosError):
    code = "UNAVAILABLE"


class Unimplemented(AiosError):
    code = "UNIMPLEMENTED"


class InternalError(AiosError):
    """A bug in aios. Never raised for bad input."""

    code = "INTERNAL"


_BY_CODE: dict[str, type[AiosError]] = {
    cls.code: cls for cls in AiosError.__subclasses__() if cls.code != AiosError.code
}


def error_for_code(code: str, message: str) -> AiosError:
    """The error of the tree for a status code name; AiosError itself for codes without a class."""
    return _BY_CODE.get(code, AiosError)(message)
