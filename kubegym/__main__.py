"""`python -m kubegym` is the `kubegym` command."""

from kubegym.cli import main

main()
