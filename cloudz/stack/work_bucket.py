"""The embedded stack's working bucket: a second bucket, as a deployment has one.

A deployment keeps ``_incoming/``, ``_claims/`` and ``_loads/`` in a private bucket apart from
the public archive (docs/deploy.md); the stack does the same by default, so the split is what
its tests exercise. ``CLOUDZ_WORK_BUCKET`` set (even to the archive bucket) is left as it is.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from cloudz.settings import Settings

SUFFIX = "-work"


def with_work_bucket(env: MutableMapping[str, str]) -> None:
    """Set ``CLOUDZ_WORK_BUCKET`` in ``env`` to ``<archive bucket>-work`` unless it is set."""
    if not env.get("CLOUDZ_WORK_BUCKET"):
        env["CLOUDZ_WORK_BUCKET"] = (env.get("CLOUDZ_BUCKET") or Settings().bucket) + SUFFIX
