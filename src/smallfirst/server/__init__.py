"""The OpenAI-compatible gateway: ``create_app(settings, service=None)`` returns the FastAPI app."""

from smallfirst.server.app import create_app

__all__ = ["create_app"]
