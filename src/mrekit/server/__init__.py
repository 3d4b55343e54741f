"""An HTTP API and demo page for a trained model (``pip install mrekit[server]``; ``mrekit serve DIR``).

``create_app`` is imported lazily so that ``import mrekit.server.batching`` works without FastAPI.

Example:
    >>> from mrekit.server import create_app  # doctest: +SKIP
    >>> app = create_app(mrekit.load("runs/snips/model-best"), max_batch=32)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from mrekit.server.app import create_app

        return create_app
    raise AttributeError(f"module 'mrekit.server' has no attribute {name!r}")
