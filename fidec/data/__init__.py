"""Datasets: the catalogue (:mod:`.catalog`), the sources a task's data comes from (:mod:`.sources`: OGBench,
Minari, ``.npz``), offline generation with OGBench's oracles (:mod:`.generate`, :mod:`.recipes`, the NumPy ant
expert :mod:`.expert`), provenance sidecars (:mod:`.provenance`), download (:mod:`.download`), verification
(:mod:`.verify`) and the training-time layout (:mod:`.frames`, :mod:`.placement`, :mod:`.loading`)."""
