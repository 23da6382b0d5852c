"""The HTTP API (CONTRACT section 7): FastAPI on uvicorn, calling use cases only."""

from posledger.entrypoints.http.app import create_app

__all__ = ["create_app"]
