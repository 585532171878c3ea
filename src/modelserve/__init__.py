"""modelserve: deploy a trained model as a web form and a JSON API, in one command."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
__version__ = "0.1.0"
