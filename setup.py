"""Build the compiled MRT -> Avro row encoder (``cloudz.convert._fastmrt``), and ship the row
schema inside the package.

Everything else about the package is in pyproject.toml; this file adds the C extension (plain C
against the CPython API; no libraries beyond libc; its parts, one per MRT type and per path
attribute, in ``cloudz/convert/fastmrt/``, compiled as one extension) and copies
``include/schemas/*.avsc`` into the built package (``cloudz/schemas/``), so a plain ``pip
install`` (a researcher's ``cloudz-convert``) finds the schema the repository keeps in
``include/``.
"""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

SCHEMAS = Path(__file__).resolve().parent / "include" / "schemas"
FASTMRT = "cloudz/convert/fastmrt"
# relative paths, sorted: the build does not depend on the order the file system lists them in
FASTMRT_SOURCES = sorted(
    p.relative_to(Path(__file__).resolve().parent).as_posix()
    for p in (Path(__file__).resolve().parent / FASTMRT).glob("*.c")
)


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
            sources=FASTMRT_SOURCES,
            depends=[f"{FASTMRT}/fastmrt.h"],
            # the parts' functions stay inside the extension (only PyInit__fastmrt is exported)
            extra_compile_args=[
                "-O2",
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-fvisibility=hidden",
            ],
        )
    ],
)
