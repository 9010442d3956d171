"""`python -m routeway` is the `routeway` command."""

from routeway.cli import main

main()
