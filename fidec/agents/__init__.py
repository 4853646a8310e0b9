"""Agents. FD and DeFlow are one :class:`RefinementAgent` with two metrics; FQL, flow BC, IQL and ReBRAC beside it."""

from fidec.agents.base import Agent
from fidec.agents.bc import BCAgent
from fidec.agents.common import AgentState
from fidec.agents.fql import FQLAgent
from fidec.agents.iql import IQLAgent
from fidec.agents.rebrac import ReBRACAgent
from fidec.agents.refine import RefinementAgent
from fidec.config import Config


def make_agent(config: Config, obs_dim: int, action_dim: int) -> Agent:
    """The agent named by ``config.agent`` ('fd', 'deflow', 'fql', 'bc', 'iql' or 'rebrac')."""
    if config.agent in ("fd", "deflow"):
        return RefinementAgent(config, obs_dim, action_dim)
    if config.agent == "fql":
        return FQLAgent(config, obs_dim, action_dim)
    if config.agent == "bc":
        return BCAgent(config, obs_dim, action_dim)
    if config.agent == "iql":
        return IQLAgent(config, obs_dim, action_dim)
    if config.agent == "rebrac":
        return ReBRACAgent(config, obs_dim, action_dim)
    raise ValueError(f"unknown agent {config.agent!r}")


__all__ = ["Agent", "AgentState", "BCAgent", "FQLAgent", "IQLAgent", "ReBRACAgent", "RefinementAgent", "make_agent"]
