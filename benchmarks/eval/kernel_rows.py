"""Do a row's actions depend on how many rows the policy call has? (XLA:CPU picks kernels by shape.)

    .venv/bin/python benchmarks/eval/kernel_rows.py > benchmarks/eval/kernel_rows.txt

For untrained FD/FQL agents at 3x128 and 4x512: the actions of the first 40 rows computed (a) one observation per
call as a 1-row batch (the evaluator without batching), (b) as a 2-row batch (``make_policy_fn``, sequential
mode), (c) in batches of 20 and of 800 rows (``make_batch_policy_fn``), each row with its own key. Prints how
many of the 40 rows differ from (c, 20 rows) in any bit, and the largest difference.
"""

import jax
import numpy as np

from fidec.agents import make_agent
from fidec.config import resolve
from fidec.evaluate import episode_key, make_batch_policy_fn, make_policy_fn

for agent_name, hidden in [("fd", (128, 128, 128)), ("fql", (128, 128, 128)), ("fd", (512,) * 4), ("fql", (512,) * 4)]:
    agent = make_agent(resolve({"agent": agent_name, "preset": "cpu", "hidden_dims": hidden}), 28, 5)
    params = agent.init(jax.random.PRNGKey(0)).params
    stacked = jax.tree_util.tree_map(lambda x: x[None], params)
    obs = np.random.default_rng(0).normal(size=(800, 28)).astype(np.float32)
    keys = np.stack([np.asarray(episode_key(1, e)) for e in range(800)])
    one_row = jax.jit(lambda p, o, k, t, agent=agent: agent.act(p, o, jax.random.fold_in(k, t)))
    two_row, batch = make_policy_fn(agent), make_batch_policy_fn(agent)
    t = 3
    ref = np.concatenate(
        [np.asarray(batch(stacked, obs[None, i : i + 20], keys[None, i : i + 20], t))[0] for i in (0, 20)]
    )
    ways = {
        "1-row calls": np.stack([np.asarray(one_row(params, obs[i], keys[i], t)) for i in range(40)]),
        "2-row calls": np.stack([np.asarray(two_row(params, obs[i], keys[i], t)) for i in range(40)]),
        "800-row call": np.asarray(batch(stacked, obs[None], keys[None], t))[0, :40],
    }
    for name, a in ways.items():
        diff = (a != ref).any(-1).sum()
        print(
            f"{agent_name} {'x'.join(map(str, hidden))}: {name} vs 20-row calls: {diff}/40 rows differ, "
            f"max |diff| {np.abs(a - ref).max():.1e}",
            flush=True,
        )
