"""The fixture of every test here: ``convert_both`` (both_engines.py)."""

from fastmrt.both_engines import convert_both

__all__ = ["convert_both"]
