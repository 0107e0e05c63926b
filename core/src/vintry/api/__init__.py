"""The HTTP API: app factory, site resolution, authentication and the error model."""

from vintry.api.app import create_app

__all__ = ["create_app"]
