"""Subcommands of the ``labapp`` CLI; each module exposes ``register(subparsers)``."""
