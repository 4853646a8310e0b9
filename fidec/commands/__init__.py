"""The command-line commands: one module per top-level command (``fidec data ...`` is :mod:`.data`)."""
