"""Training-throughput benchmark (``fidec bench-speed``): updates/s of the compiled training chunk.

What is timed is exactly what :class:`fidec.train.Trainer` runs: ``make_chunk_fn(agent, batch_size)``, i.e. a
jitted ``lax.scan`` of ``n`` updates, ``vmap``-ed over the seeds, with minibatches drawn on the device from a
device-resident dataset. The dataset here is *synthetic* (Gaussian observations, uniform actions in [-1, 1],
random rewards and masks) of the requested observation/action dimensions: an update's cost depends only on
the shapes (batch size, dimensions, network widths, K, N), never on the values, since every operation is a
dense, data-independent computation (no data-dependent control flow; the minibatch gather is O(B)).

Per measured configuration (one JSON record each):

- ``updates_per_s``: median over ``repeats`` timed chunks of (updates x seeds) / seconds, each chunk timed
  to ``jax.block_until_ready`` after one untimed warm-up call. Cases are measured *interleaved* (round-robin:
  case 1, case 2, ..., case 1, case 2, ...), so that a load change on a shared machine hits every case alike
  and the ratios between cases are fair even when absolute numbers move.
- ``compile_s``: wall time of ``jit(...).lower(...).compile()`` (the persistent compilation cache is off while
  benchmarking, so this is a real compilation).
- ``peak_mem_mb``: XLA's compiled memory analysis of the chunk executable: arguments + outputs + temporaries -
  aliased (donated) buffers, i.e. the device memory the executable needs (state, dataset, scratch).
  ``process_maxrss_mb`` is the process's ``ru_maxrss`` so far (process-wide and cumulative: it includes the
  Python runtime, XLA's code and every case measured before, so it only bounds a case from above).
- ``flops_per_update``: XLA's own count (``compiled.cost_analysis()['flops']``) for one seed-update. XLA counts
  a ``while`` loop's body once, not times its trip count (checked: the count of a chunk does not change with
  its length), so the chunk's count *is* the per-update count for all seeds; it is divided by the number of
  seeds. ``flops_analytic`` is the matmul count of :func:`analytic_flops` (forward 2 x in x out per dense layer
  and row, backward 2 x forward) as a cross-check.
- ``matmul_peak_gflops``: a large fp32 ``jnp.dot`` (``peak_size``^2, default 2048) timed on the spot, once per
  round of the interleaved loop (median reported), so it sees the same contention as the cases;
  ``achieved_fraction`` = flops_per_update x updates_per_s / peak.

Modes: ``chunked`` (the trainer's design), ``dispatch`` (a chunk of one update called ``n`` times from Python:
one dispatch per update), ``sequential`` (S seeds run one after another with the one-seed executable, against
``chunked`` with ``seeds=S``: vmap over seeds in one process).
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from fidec.agents import make_agent
from fidec.config import resolve
from fidec.data.frames import FrameData, sample_frames
from fidec.data.loading import next_row_actions, with_next_actions
from fidec.errors import ConfigError
from fidec.train import init_states, make_chunk_fn

#: Throughput of the authors' released implementation on a 2-core CPU: paper preset, one seed.
PUBLISHED_UPDATES_PER_S = {"fd": 2.8, "deflow": 5.85, "fql": 9.4}
#: fidec's targets: about 1.2x the published figures.
TARGET_UPDATES_PER_S = {"fd": 3.4, "deflow": 7.3, "fql": 11.5}
#: The matmul peak quoted for the published figures' machine (GFLOP/s, 2-core CPU, fp32).
QUOTED_PEAK_GFLOPS = 180.0
#: cube-single-play (OGBench): the default dimensions of the benchmark, as in the published figures' tasks.
DEFAULT_OBS_DIM, DEFAULT_ACTION_DIM = 28, 5
#: ``--sweep`` name -> default values.
SWEEPS = {
    "batch": (64, 128, 256, 512, 1024),
    "fisher": (1, 2, 4, 8, 16),
    "action-dim": (2, 5, 10, 21),
    "width": (128, 256, 512, 1024),
    "seeds": (1, 2, 4, 8),
}
#: agent tokens accepted by ``--agents``: name -> (agent, config overrides)
AGENT_VARIANTS = {
    "fd": ("fd", {}),
    "fd-per-action": ("fd", {"fisher_locality": "per-action"}),
    "deflow": ("deflow", {}),
    "fql": ("fql", {}),
    "bc": ("bc", {}),
    "iql": ("iql", {}),
    "rebrac": ("rebrac", {}),
}
DEFAULT_CHUNK = {"paper": 4, "cpu": 10, "tiny": 5}
#: With ``--image-shape`` the configuration is the preset's for this pixel task (encoder, frame stack, p_aug).
VISUAL_BENCH_ENV = "visual-cube-single-play-singletask-task1-v0"


def synthetic_frames(frame_shape: tuple[int, ...], action_dim: int, size: int = 10_000, episode: int = 1001):
    """A device-resident pixel dataset (:class:`~fidec.data.frames.FrameData` arrays) of uint8 frames in episodes of
    ``episode`` frames; stacking, augmentation and the encoders cost the same whatever the pixel values."""
    rng = np.random.default_rng(0)
    rows = np.arange(size)
    valid = (rows + 1) % episode != 0
    start = (rows // episode) * episode
    n = int(valid.sum())
    data = FrameData(
        frames=rng.integers(0, 256, (size, *frame_shape), dtype=np.uint8),
        index=rows[valid].astype(np.int32),
        start=start[valid].astype(np.int32),
        actions=rng.uniform(-1, 1, (n, action_dim)).astype(np.float32),
        rewards=-(rng.uniform(size=n) < 0.9).astype(np.float32),
        masks=(rng.uniform(size=n) < 0.99).astype(np.float32),
    )
    return {k: jnp.asarray(v) for k, v in data.arrays().items()}, data


# ----------------------------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One measured configuration."""

    variant: str  # a key of AGENT_VARIANTS
    preset: str = "paper"
    overrides: dict = field(default_factory=dict)  # Config fields (batch_size, fisher_samples, hidden_dims, ...)
    obs_dim: int = DEFAULT_OBS_DIM
    action_dim: int = DEFAULT_ACTION_DIM
    seeds: int = 1
    mode: str = "chunked"  # 'chunked' | 'dispatch' | 'sequential'
    sweep: str | None = None
    sweep_value: int | None = None
    image_shape: tuple[int, ...] | None = None  # pixels: one frame (H, W, C); the visual preset's encoder and stack

    def config(self):
        agent, extra = AGENT_VARIANTS[self.variant]
        env = {"env": VISUAL_BENCH_ENV} if self.image_shape else {}
        return resolve(
            {"agent": agent, "preset": self.preset, **env, **extra, **self.overrides, "num_seeds": self.seeds}
        )

    def label(self) -> str:
        parts = [self.variant, self.mode]
        if self.sweep:
            parts.append(f"{self.sweep}={self.sweep_value}")
        if self.seeds > 1 and self.sweep != "seeds":
            parts.append(f"seeds={self.seeds}")
        return " ".join(parts)


def synthetic_data(obs_dim: int, action_dim: int, size: int = 10_000, seed: int = 0) -> dict:
    """A device-resident dataset of the given dimensions; its values do not affect an update's cost."""
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    return {
        "observations": jax.random.normal(k[0], (size, obs_dim), jnp.float32),
        "actions": jax.random.uniform(k[1], (size, action_dim), jnp.float32, -1.0, 1.0),
        "rewards": -(jax.random.uniform(k[2], (size,), jnp.float32) < 0.9).astype(jnp.float32),
        "masks": (jax.random.uniform(k[3], (size,), jnp.float32) < 0.99).astype(jnp.float32),
        "next_observations": jax.random.normal(k[4], (size, obs_dim), jnp.float32),
    }


# ----------------------------------------------------------------------------------------------- FLOPs
def mlp_flops(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> int:
    """Forward matmul FLOPs of one row through a dense MLP (2 x in x out per layer)."""
    dims = (in_dim, *hidden, out_dim)
    return 2 * sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))


def velocity_rows(config) -> int:
    """Rows pushed through the velocity network in one update (the count pinned by tests/test_agents.py)."""
    b, k, n = config.batch_size, config.flow_steps, config.fisher_samples
    if config.agent in ("iql", "rebrac"):
        return 0  # no flow
    if config.agent == "bc":
        return b
    if config.agent == "fql":
        return b * (1 + k)
    rows = b * (1 + 2 * k)
    if config.agent == "fd":
        solves = n - int(config.fisher_reuse_base)  # the release draws N fresh samples; fidec's option reuses one
        rows += b * (k * solves + n) if config.fisher_locality == "per-state" else b * n
    return rows


def analytic_flops(config, obs_dim: int, action_dim: int) -> float:
    """Matmul FLOPs of one update of one seed (elementwise ops, LayerNorm and Adam are left out).

    Backward through a trained layer ~ 2 x forward (input and weight gradients); through the frozen critic in
    the actor loss ~ 1 x forward (input gradient only).
    """
    h, d, b = tuple(config.hidden_dims), action_dim, config.batch_size
    fv = mlp_flops(obs_dim + d + 1, h, d)  # velocity v(s, x, t)
    fq = mlp_flops(obs_dim + d, h, 1)  # one critic of the ensemble of 2
    fp = mlp_flops(obs_dim + d, h, d)  # refiner delta(s, a) or FQL's one-step policy mu(s, z)
    if config.agent == "iql":
        # value: data (fwd + bwd) + s' (fwd) + actor's V (fwd); critic: target (2 fwd) + data (2 x 3) + actor's Q
        # (2 fwd); Gaussian actor: fwd + bwd
        return float(5 * b * mlp_flops(obs_dim, h, 1) + 10 * b * fq + 3 * b * mlp_flops(obs_dim, h, d))
    if config.agent == "rebrac":
        # critic: target at s' (2 fwd) + data (2 x 3) + policy action (2 fwd + 2 input-grad bwd); actor: target at s'
        # (fwd) + fwd + bwd (computed every update, applied every actor_freq-th)
        return float(12 * b * fq + 4 * b * mlp_flops(obs_dim, h, d))
    n = config.fisher_samples
    solves = velocity_rows(config) - b  # forward-only rows (ODE solves, Fisher scores); the FM loss row is below
    fm = 3 * b * fv  # flow-matching loss forward + backward
    if config.agent == "bc":
        return float(fm)
    # critic: target (2 fwd) + data (2 fwd + 2 x 2 bwd) + policy action (2 fwd + 2 input-grad bwd)
    critic = 12 * b * fq
    policy = 4 * b * fp  # next action (fwd) + actor (fwd + bwd)
    extra = 0
    if config.agent == "fd":
        extra = 2 * b * n * d * d + 6 * b * d * d  # sum of g g^T, the penalty delta^T F delta (fwd + bwd)
    return float(solves * fv + fm + critic + policy + extra)


def matmul_peak(size: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of a ``size`` x ``size`` fp32 matmul on the default device (best of ``repeats`` after warm-up)."""
    x = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    y = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.float32)
    f = jax.jit(jnp.dot)
    jax.block_until_ready(f(x, y))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(x, y))
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


# ----------------------------------------------------------------------------------------------- measuring
@dataclass
class Prepared:
    case: Case
    config: object
    fn: object  # compiled executable: (states, data) -> (states, infos)
    states: object
    data: dict
    chunk: int
    compile_s: float
    flops: float  # per seed-update (XLA)
    mem: dict
    times: list = field(default_factory=list)
    cpu_times: list = field(default_factory=list)
    loads: list = field(default_factory=list)

    def run(self) -> tuple[float, float]:
        """One timed unit: ``chunk`` updates for every seed. Returns (wall seconds, process CPU seconds)."""
        c0, t0 = time.process_time(), time.perf_counter()
        mode = self.case.mode
        if mode == "chunked":
            self.states, infos = self.fn(self.states, self.data)
            jax.block_until_ready((self.states, infos))
        elif mode == "dispatch":
            for _ in range(self.chunk):
                self.states, infos = self.fn(self.states, self.data)
            jax.block_until_ready((self.states, infos))
        elif mode == "sequential":
            for i in range(len(self.states)):
                self.states[i], infos = self.fn(self.states[i], self.data)
                jax.block_until_ready((self.states[i], infos))
        else:
            raise ValueError(mode)
        return time.perf_counter() - t0, time.process_time() - c0


def _memory(compiled) -> dict:
    """The chunk executable's memory from XLA's compiled memory analysis.

    ``peak_mem_mb`` = arguments + outputs + temporaries - aliased (donated) buffers. XLA's own
    ``peak_memory_in_bytes`` is kept as ``xla_peak_memory_mb``, but on the CPU backend of JAX 0.10.2 it equals the
    argument size (temporaries left out), so it is only a lower bound there.
    """
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - backends may not implement it
        m = None
    if m is None:
        return {"peak_mem_mb": None, "peak_mem_source": "unavailable"}
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return {
        "peak_mem_mb": total / 2**20,
        "peak_mem_source": "xla memory_analysis: arguments + outputs + temporaries - aliased",
        "xla_peak_memory_mb": (getattr(m, "peak_memory_in_bytes", 0) or 0) / 2**20,
        "temp_mem_mb": m.temp_size_in_bytes / 2**20,
    }


def prepare(case: Case, chunk: int, dataset_size: int = 10_000) -> Prepared:
    """Build the agent, states and synthetic data for ``case`` and compile its executable (timed)."""
    config = case.config()
    if case.image_shape:
        data, frames = synthetic_frames(case.image_shape, case.action_dim, dataset_size)
        agent = make_agent(config, frames.obs_shape(config.frame_stack), case.action_dim)
        if agent.needs_next_actions:  # ReBRAC
            frames = with_next_actions(frames)
            data = {k: jnp.asarray(v) for k, v in frames.arrays().items()}
        sampler = partial(sample_frames, frame_stack=config.frame_stack, p_aug=config.p_aug)
        run_chunk = make_chunk_fn(agent, config.batch_size, sampler=sampler)
    else:
        agent = make_agent(config, case.obs_dim, case.action_dim)
        data = synthetic_data(case.obs_dim, case.action_dim, dataset_size)
        if agent.needs_next_actions:  # ReBRAC
            data = {**data, "next_actions": jnp.asarray(next_row_actions(np.asarray(data["actions"])))}
        run_chunk = make_chunk_fn(agent, config.batch_size)
    seeds = list(range(case.seeds))
    if case.mode == "sequential":
        states = [init_states(agent, [s]) for s in seeds]
        example, per_call_seeds = states[0], 1
    else:
        states = init_states(agent, seeds)
        example, per_call_seeds = states, case.seeds
    n = 1 if case.mode == "dispatch" else chunk
    t0 = time.perf_counter()
    compiled = run_chunk.lower(example, data, n).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX returned one dict per device
        cost = cost[0]
    flops = float(cost.get("flops", float("nan"))) / per_call_seeds if cost else float("nan")
    return Prepared(case, config, compiled, states, data, chunk, compile_s, flops, _memory(compiled))


def _record(p: Prepared, peaks: list[float]) -> dict:
    c, cfg = p.case, p.config
    med = statistics.median(p.times)
    total_updates = p.chunk * c.seeds
    ups = total_updates / med
    peak = statistics.median(peaks) if peaks else float("nan")
    rec = {
        "agent": cfg.agent,
        "variant": c.variant,
        "preset": c.preset,
        "mode": c.mode,
        "batch_size": cfg.batch_size,
        "num_fisher_samples": cfg.fisher_samples if cfg.agent == "fd" else 0,
        "fisher_locality": cfg.fisher_locality if cfg.agent == "fd" else None,
        "flow_steps": cfg.flow_steps,
        "obs_dim": c.obs_dim,
        "image_shape": list(c.image_shape) if c.image_shape else None,
        "encoder": cfg.encoder,
        "frame_stack": cfg.frame_stack,
        "p_aug": cfg.p_aug,
        "action_dim": c.action_dim,
        "hidden_dims": list(cfg.hidden_dims),
        "seeds": c.seeds,
        "chunk": p.chunk,
        "repeats": len(p.times),
        "updates_per_s": ups,  # all seeds together
        "updates_per_s_per_seed": ups / c.seeds,
        "ms_per_update": 1e3 * med / total_updates,
        "times_s": p.times,
        # process CPU seconds per seed-update (all threads): far less sensitive to other jobs than wall time
        "cpu_s_per_update": statistics.median(p.cpu_times) / total_updates,
        "cpu_utilization": statistics.median(ct / t for ct, t in zip(p.cpu_times, p.times, strict=True)),
        "compile_s": p.compile_s,
        **p.mem,
        "process_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "flops_per_update": p.flops,
        "flops_source": "xla cost_analysis (loop body = one update), per seed",
        # pixels: the MLPs only, on the encoders' 512 features (the encoders' convolutions are in the XLA count)
        "flops_analytic": analytic_flops(cfg, 512 if c.image_shape else c.obs_dim, c.action_dim),
        "velocity_rows_per_update": velocity_rows(cfg),
        "matmul_peak_gflops": peak,
        "achieved_gflops": p.flops * ups / 1e9,
        "achieved_fraction": p.flops * ups / (peak * 1e9) if peak == peak else None,
        "load_avg_1m": [round(x, 2) for x in p.loads],
        "sweep": c.sweep,
        "sweep_value": c.sweep_value,
        "device": str(jax.devices()[0].device_kind),
        "platform": jax.default_backend(),
        "jax": jax.__version__,
    }
    return rec


def measure(
    cases: list[Case],
    chunk: int,
    repeats: int,
    peak_size: int = 2048,
    dataset_size: int = 10_000,
    log=None,
) -> list[dict]:
    """Compile every case, warm each up once, then time ``repeats`` interleaved rounds. One record per case."""
    log = log or (lambda msg: None)
    prepared = []
    for c in cases:
        p = prepare(c, chunk, dataset_size)
        log(f"compiled {c.label()}: {p.compile_s:.1f} s")
        p.run()  # warm-up (first-call allocations)
        prepared.append(p)
    peaks = []
    for r in range(repeats):
        peaks.append(matmul_peak(peak_size, repeats=2))
        for p in prepared:
            p.loads.append(os.getloadavg()[0])
            wall, cpu = p.run()
            p.times.append(wall)
            p.cpu_times.append(cpu)
        log(
            f"round {r + 1}/{repeats} (load {os.getloadavg()[0]:.2f}, peak {peaks[-1]:.0f} GFLOP/s): "
            + ", ".join(f"{p.case.label()} {p.chunk * p.case.seeds / p.times[-1]:.2f}/s" for p in prepared)
        )
    return [_record(p, peaks) for p in prepared]


# ----------------------------------------------------------------------------------------------- plans
def build_cases(
    variants: list[str],
    preset: str,
    overrides: dict,
    obs_dim: int,
    action_dim: int,
    seeds: int = 1,
    sweeps: list[str] | None = None,
    sweep_values: list[int] | None = None,
    dispatch: bool = False,
    compare_seeds: int | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> list[Case]:
    """The list of cases of one ``bench-speed`` invocation (main table, modes, sweeps)."""
    for v in variants:
        if v not in AGENT_VARIANTS:
            raise ConfigError(f"unknown agent {v!r} for bench-speed; choose from {', '.join(AGENT_VARIANTS)}")
    common = dict(
        preset=preset, overrides=dict(overrides), obs_dim=obs_dim, action_dim=action_dim, image_shape=image_shape
    )
    cases = []
    if not sweeps:
        for v in variants:
            cases.append(Case(v, seeds=seeds, **common))
            if dispatch:
                cases.append(Case(v, seeds=seeds, mode="dispatch", **common))
            if compare_seeds and compare_seeds > 1:
                cases.append(Case(v, seeds=compare_seeds, mode="sequential", **common))
                cases.append(Case(v, seeds=compare_seeds, **common))
        return cases
    for sweep in sweeps:
        if sweep not in SWEEPS:
            raise ConfigError(f"unknown sweep {sweep!r}; choose from {', '.join(SWEEPS)}")
        values = sweep_values if sweep_values else SWEEPS[sweep]
        for v in variants:
            if sweep == "fisher" and AGENT_VARIANTS[v][0] != "fd":
                continue  # only FD draws Fisher samples
            for x in values:
                c = Case(v, seeds=seeds, sweep=sweep, sweep_value=int(x), **common)
                c.overrides = dict(c.overrides)
                if sweep == "batch":
                    c.overrides["batch_size"] = int(x)
                elif sweep == "fisher":
                    c.overrides["fisher_samples"] = int(x)
                elif sweep == "action-dim":
                    c.action_dim = int(x)
                elif sweep == "width":
                    depth = len(c.config().hidden_dims)
                    c.overrides["hidden_dims"] = (int(x),) * depth
                elif sweep == "seeds":
                    c.seeds = int(x)
                cases.append(c)
    return cases


# ----------------------------------------------------------------------------------------------- reporting
def _fmt(x, spec=".2f"):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def markdown(records: list[dict], title: str = "fidec bench-speed") -> str:
    """The records as Markdown: the main table, comparisons and the scaling tables."""
    out = [f"## {title}", ""]
    loads = [x for r in records for x in r["load_avg_1m"]]
    if records:
        r0 = records[0]
        out.append(
            f"Device: {r0['platform']} ({r0['device']}, {os.cpu_count()} CPUs), JAX {r0['jax']}, "
            f"{platform.machine()}; 1-min load average during timing: "
            f"{min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})."
        )
        out.append("")
    head = (
        "| agent | mode | B | N | d | hidden | seeds | updates/s | ms/update | CPU s/update | CPU util | compile s | "
        "peak MB | GFLOP/update (XLA) | GFLOP (analytic) | matmul peak GFLOP/s | % of peak |"
    )
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in records:
        out.append(
            f"| {r['variant']} | {r['mode']} | {r['batch_size']} | {r['num_fisher_samples'] or '-'} | "
            f"{r['action_dim']} | {'x'.join(map(str, r['hidden_dims']))} | {r['seeds']} | "
            f"{_fmt(r['updates_per_s'])} | {_fmt(r['ms_per_update'], '.1f')} | "
            f"{_fmt(r.get('cpu_s_per_update'), '.3f')} | {_fmt(r.get('cpu_utilization'), '.2f')} | "
            f"{_fmt(r['compile_s'], '.1f')} | "
            f"{_fmt(r['peak_mem_mb'], '.0f')} | {_fmt(r['flops_per_update'] / 1e9, '.2f')} | "
            f"{_fmt(r['flops_analytic'] / 1e9, '.2f')} | {_fmt(r['matmul_peak_gflops'], '.0f')} | "
            f"{_fmt(100 * r['achieved_fraction'] if r['achieved_fraction'] is not None else None, '.0f')} |"
        )
    out += [""] + comparisons(records)
    out += scaling_tables(records)
    return "\n".join(out) + "\n"


def _find(records, **kw):
    return [r for r in records if all(r.get(k) == v for k, v in kw.items())]


def comparisons(records: list[dict]) -> list[str]:
    """Ratios: vs the published figures, per-action FD vs DeFlow, vmapped vs sequential, chunked vs dispatch."""
    lines = []
    main = [r for r in records if r["sweep"] is None and r["mode"] == "chunked" and r["seeds"] == 1]
    paper = [r for r in main if r["preset"] == "paper"]
    default = [r for r in paper if r["batch_size"] == 256 and r["hidden_dims"] == [512] * 4 and r["action_dim"] == 5]
    rows = []
    for r in default:
        pub = PUBLISHED_UPDATES_PER_S.get(r["variant"])
        if pub is None:
            continue
        tgt = TARGET_UPDATES_PER_S[r["variant"]]
        ok = "met" if r["updates_per_s"] >= tgt else "missed"
        frac = r.get("achieved_fraction")
        implied = frac * QUOTED_PEAK_GFLOPS * 1e9 / r["flops_per_update"] if frac else None
        implied_ratio = implied / pub if implied else None
        rows.append(
            f"| {r['variant']} | {r['updates_per_s']:.2f} | {pub} | {r['updates_per_s'] / pub:.2f}x | {tgt} | {ok} | "
            f"{_fmt(100 * frac if frac else None, '.0f')} % | {_fmt(implied)} ({_fmt(implied_ratio)}x) |"
        )
    if rows:
        lines += [
            "### Against the published implementation (paper preset, one seed)",
            "",
            "| agent | updates/s here | published | ratio | target | | % of on-the-spot matmul peak | "
            f"implied at the quoted {QUOTED_PEAK_GFLOPS:.0f} GFLOP/s peak (ratio to published) |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "The last column is an estimate, not a measurement: the fraction of the matmul peak measured on the spot, "
            f"times the {QUOTED_PEAK_GFLOPS:.0f} GFLOP/s quoted for the machine of the published figures, "
            "divided by the update's FLOPs. Under contention (on-the-spot peak below the quoted one) it estimates the "
            "idle-machine speed; when the probe measures more than the quoted peak it removes that head start. It "
            "assumes that the update keeps its fraction of the peak.",
            "",
        ]
    by = {(r["variant"], r["preset"], r["batch_size"], tuple(r["hidden_dims"]), r["action_dim"]): r for r in main}
    for (v, *rest), r in by.items():
        if v != "fd-per-action":
            continue
        de = by.get(("deflow", *rest))
        fd = by.get(("fd", *rest))
        if de:
            lines.append(
                f"- per-action FD costs {de['updates_per_s'] / r['updates_per_s']:.2f}x DeFlow's time per update "
                f"({r['preset']} preset; target <= 1.3x)"
                + (f"; per-state FD costs {de['updates_per_s'] / fd['updates_per_s']:.2f}x" if fd else "")
            )
    for r in records:
        if r["mode"] == "sequential":
            vm = _find(records, variant=r["variant"], preset=r["preset"], mode="chunked", seeds=r["seeds"], sweep=None)
            if vm:
                lines.append(
                    f"- {r['variant']}, {r['seeds']} seeds: vmapped {vm[0]['updates_per_s']:.2f} vs sequential "
                    f"{r['updates_per_s']:.2f} updates/s in total = {vm[0]['updates_per_s'] / r['updates_per_s']:.2f}x "
                    "(target >= 1.3x)"
                )
        if r["mode"] == "dispatch":
            ch = _find(records, variant=r["variant"], preset=r["preset"], mode="chunked", seeds=r["seeds"], sweep=None)
            if ch:
                lines.append(
                    f"- {r['variant']}: chunked {ch[0]['updates_per_s']:.2f} vs one dispatch per update "
                    f"{r['updates_per_s']:.2f} updates/s = {ch[0]['updates_per_s'] / r['updates_per_s']:.2f}x "
                    f"on {r['platform']}"
                )
    if lines and not lines[-1] == "":
        lines.append("")
    return lines


def scaling_tables(records: list[dict]) -> list[str]:
    """One table per sweep: cost per update relative to the smallest value, next to the value's own growth."""
    out = []
    sweeps = sorted({(r["sweep"], r["variant"]) for r in records if r["sweep"]}, key=str)
    for sweep, variant in sweeps:
        rows = sorted(_find(records, sweep=sweep, variant=variant), key=lambda r: r["sweep_value"])
        if not rows:
            continue
        base = rows[0]
        cost_key = "ms_per_update" if sweep != "seeds" else "updates_per_s"
        out += [
            f"### Scaling: {sweep} ({variant}, {base['preset']} preset)",
            "",
            f"| {sweep} | x / x0 | (x / x0)^2 | updates/s | ms/update | cost / cost0 | GFLOP/update | FLOPs / FLOPs0 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            gx = r["sweep_value"] / base["sweep_value"]
            if cost_key == "ms_per_update":
                gc = r["ms_per_update"] / base["ms_per_update"]
            else:  # seeds: total throughput relative to one seed
                gc = r["updates_per_s"] / base["updates_per_s"]
            out.append(
                f"| {r['sweep_value']} | {gx:.2f} | {gx * gx:.2f} | {r['updates_per_s']:.2f} | "
                f"{r['ms_per_update']:.1f} | {gc:.2f} | {r['flops_per_update'] / 1e9:.3f} | "
                f"{r['flops_per_update'] / base['flops_per_update']:.2f} |"
            )
        if sweep == "seeds":
            out.append("")
            out.append("(seeds: `cost / cost0` is total throughput relative to one seed; ms/update is per seed-update)")
        out.append("")
    return out
