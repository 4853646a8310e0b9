"""Small self-contained demonstrations of the method (``fidec demo ...``)."""
