"""The ``fidec`` command's subcommands: one module per command group, each with ``register(subparsers)`` adding
its parsers and a ``cmd_*`` function per subcommand. :mod:`fidec.cli` lists them."""
