"""OGBench datasets: loading (:mod:`fidec.data.loading`), offline generation with OGBench's oracles
(:mod:`fidec.data.generate`), verification (:mod:`fidec.data.verify`) and the catalogue
(:mod:`fidec.data.catalog`)."""
