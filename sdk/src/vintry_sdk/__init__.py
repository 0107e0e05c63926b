"""The Vintry SDK: what a plugin imports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vintry-sdk")
except PackageNotFoundError:
    __version__ = "0.0.0"

__all__ = ["__version__"]
