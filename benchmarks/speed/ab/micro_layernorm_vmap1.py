import os
import statistics
import time

import jax
import jax.numpy as jnp

from fidec.networks import MLP

B = 256
H = (512,) * 4
k = jax.random.PRNGKey(0)
x = jax.random.normal(k, (B, 33))
y = jax.random.normal(k, (B,))
res = {}
cases = {}
for ln in (False, True):
    net = MLP(H, 1, layer_norm=ln)
    p0 = net.init(k, x)

    def fn(p, net=net):
        def s(c, _):
            g = jax.grad(lambda p: jnp.mean((net.apply(p, x)[..., 0] - y) ** 2))(c)
            return jax.tree_util.tree_map(lambda u, v: u - 1e-4 * v, c, g), None

        return jax.lax.scan(s, p, None, length=10)[0]

    cases[(ln, "plain")] = (jax.jit(fn).lower(p0).compile(), p0)
    p1 = jax.tree_util.tree_map(lambda t: t[None], p0)
    cases[(ln, "vmap1")] = (jax.jit(jax.vmap(fn)).lower(p1).compile(), p1)
for f, a in cases.values():
    jax.block_until_ready(f(a))
for _r in range(5):
    for kk, (f, a) in cases.items():
        c0 = time.process_time()
        jax.block_until_ready(f(a))
        res.setdefault(kk, []).append((time.process_time() - c0) / 10)
for kk, v in res.items():
    print("layer_norm", kk, "CPU ms/step", round(1e3 * statistics.median(v), 2))
print(os.getloadavg())
