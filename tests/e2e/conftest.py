"""Fixtures of the end-to-end tests: one embedded stack per session (see stack_session.py)."""

from stack_session import stack

__all__ = ["stack"]
