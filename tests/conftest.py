"""Fixtures shared by the test modules."""

from server_support import each_loop

__all__ = ["each_loop"]
