"""Build the compiled MRT -> Avro row encoder (``cloudz.convert._fastmrt``).

Everything else about the package is in pyproject.toml; this file only adds the C extension
(plain C against the CPython API; no libraries beyond libc).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cloudz.convert._fastmrt",
            sources=["cloudz/convert/_fastmrt.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
