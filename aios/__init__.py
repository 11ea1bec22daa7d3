"""aios: an agent memory operating system.

The kernel (`aios serve`) is one process that many agents share over gRPC; `aios.client` is its SDK.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
