"""`fidec data ...` subcommands (placeholder until the dataset issue lands)."""


def register(sub):
    p = sub.add_parser("data", help="generate, download, verify and list OGBench datasets")
    p.set_defaults(func=lambda args: 0)
