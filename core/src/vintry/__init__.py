"""Vintry: the kernel of a brand's dealer-ordering platform.

One HQ, many regional malls, a small kernel (catalog, inventory, orders, sites) and
plugins installed through the ``vintry`` entry-point group. The composition root is
:class:`vintry.platform.Platform`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vintry")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
