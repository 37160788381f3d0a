"""Build the compiled MRT -> Avro row encoder (``cloudz.convert._fastmrt``), and ship the row
schema inside the package.

Everything else about the package is in pyproject.toml; this file adds the C extension (plain C
against the CPython API; no libraries beyond libc) and copies ``include/schemas/*.avsc`` into
the built package (``cloudz/schemas/``), so a plain ``pip install`` (a researcher's
``cloudz-convert``) finds the schema the repository keeps in ``include/``.
"""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

SCHEMAS = Path(__file__).resolve().parent / "include" / "schemas"


class BuildWithSchemas(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "cloudz" / "schemas"
        target.mkdir(parents=True, exist_ok=True)
        for avsc in SCHEMAS.glob("*.avsc"):
            shutil.copyfile(avsc, target / avsc.name)


setup(
    cmdclass={"build_py": BuildWithSchemas},
    ext_modules=[
        Extension(
            "cloudz.convert._fastmrt",
            sources=["cloudz/convert/_fastmrt.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ],
)
