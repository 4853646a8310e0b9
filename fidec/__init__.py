"""fidec: Fisher Decorator and its baselines (DeFlow, FQL, IQL, ReBRAC, flow BC) for offline RL in JAX.

The Fisher metric lives in :mod:`fidec.metrics`; the flow in :mod:`fidec.flows`; the agents in
:mod:`fidec.agents`.
"""

__version__ = "0.3.0"
