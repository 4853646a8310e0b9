"""`fidec train` and `fidec evaluate` (placeholder)."""


def register(sub):
    pass
