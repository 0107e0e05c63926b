"""``python -m vintry.cli``: the same as the ``vintry`` command."""

from vintry.cli import main

main()
