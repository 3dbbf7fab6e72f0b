"""``python -m vfplane`` is the ``vfplane`` command."""

from vfplane.cli.main import main

main()
