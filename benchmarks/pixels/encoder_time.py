"""impala_small forward and gradient time on (256, 64, 64, 9) uint8 frame stacks: what dominates a visual update.

Usage: PYTHONPATH=. python benchmarks/pixels/encoder_time.py   (output: benchmarks/pixels/encoder_time.txt)
"""

import time

import jax
import jax.numpy as jnp

from fidec.encoders import make_encoder

enc = make_encoder("impala_small")
x = jnp.zeros((256, 64, 64, 9), jnp.uint8)
p = enc.init(jax.random.PRNGKey(0), x[:1])
f = jax.jit(lambda p, x: enc.apply(p, x))
g = jax.jit(jax.grad(lambda p, x: enc.apply(p, x).sum()))
t = time.time()
f(p, x).block_until_ready()
print("fwd compile+run", time.time() - t)
t = time.time()
f(p, x).block_until_ready()
print("fwd run", time.time() - t)
t = time.time()
jax.block_until_ready(g(p, x))
print("grad compile+run", time.time() - t)
t = time.time()
jax.block_until_ready(g(p, x))
print("grad run", time.time() - t)
