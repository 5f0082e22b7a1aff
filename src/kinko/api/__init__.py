"""The REST API: FastAPI under ``/v1``, thin routes over the same services as the CLI."""

from kinko.api.app import create_app

__all__ = ["create_app"]
