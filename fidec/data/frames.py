"""Pixel datasets: frames stored once, stacked and augmented per minibatch on the device.

Layout (:class:`FrameData`). An OGBench visual file stores every frame of every episode once (``observations``
uint8 (R, H, W, 3), R = episodes x 1001: each episode's last row is only a next observation). fidec keeps that
array as it is (``frames``) and describes each transition by two integers: ``index``, the frame row of its
observation, and ``start``, the first frame row of its episode. A transition's stacked observation and next
observation are then K + 1 gathered rows, ``clip(index - K + 1 + j, start)`` for j = 0..K: rows 0..K-1 are the
observation, rows 1..K the next observation. Before an episode's K-th step the first frame is repeated, never a
frame of the previous episode (FQL's ``utils/datasets.py`` ``Dataset.sample``: ``np.maximum(idxs - i,
initial_state_idxs)``). The uint8 frames are the only large array: ~12.3 GB for 1000 x 1001 frames of 64x64x3,
versus ~74 GB for float32 observation and next-observation stacks.

Augmentation (:func:`random_shift`): FQL's random crop (``utils/datasets.py`` ``augment``): pad each image by 3
pixels with edge values and crop back at an offset drawn per image in [0, 6]^2, i.e. shift it by up to 3 pixels;
the same offset for the observation and the next observation of a transition; the whole minibatch is augmented
with probability ``p_aug`` (one draw per minibatch, as FQL's ``np.random.rand() < self.p_aug``). Actions,
rewards and masks are never touched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

#: FQL's ``Dataset.augment``: ``padding = 3``.
AUG_PAD = 3
#: Per-transition arrays besides the frame indices.
LABEL_KEYS = ("actions", "rewards", "masks")


def label_keys(data) -> tuple[str, ...]:
    """The per-transition arrays of ``data`` (FrameData or its device dict): :data:`LABEL_KEYS`, plus
    ``next_actions`` where present (ReBRAC: :func:`fidec.data.loading.with_next_actions`)."""
    has = data.get("next_actions") is not None if isinstance(data, dict) else data.next_actions is not None
    return (*LABEL_KEYS, "next_actions") if has else LABEL_KEYS


@dataclass
class FrameData:
    """A pixel dataset: uint8 ``frames`` (R, H, W, C) and, per transition, ``index``/``start`` frame rows and
    ``actions``/``rewards``/``masks``."""

    frames: np.ndarray
    index: np.ndarray
    start: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    masks: np.ndarray
    next_actions: np.ndarray | None = None  # ReBRAC only (:meth:`with_next_actions`)

    def __len__(self) -> int:
        return int(len(self.index))

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.frames.shape[1:])

    def obs_shape(self, frame_stack: int) -> tuple[int, ...]:
        """The agent's observation: ``frame_stack`` frames on the channel axis."""
        h, w, c = self.frame_shape
        return (h, w, c * frame_stack)

    @property
    def nbytes(self) -> int:
        return int(sum(np.asarray(v).nbytes for v in self.arrays().values()))

    def arrays(self) -> dict:
        return {k: getattr(self, k) for k in ("frames", "index", "start", *label_keys(self))}

    def subset(self, rows) -> FrameData:
        """The transitions ``rows`` (frames shared)."""
        keys = ("index", "start", *label_keys(self))
        return FrameData(self.frames, **{k: np.asarray(getattr(self, k))[rows] for k in keys})

    def with_next_actions(self, next_actions) -> FrameData:
        return dataclasses.replace(self, next_actions=np.asarray(next_actions, np.float32))


def from_compact(observations, valids, rewards, masks, actions) -> FrameData:
    """FrameData from OGBench's compact layout (``ogbench.load_dataset(..., compact_dataset=True)``): one row per
    stored frame, ``valids[r] = 0`` on each episode's last row (a next observation only)."""
    valids = np.asarray(valids).astype(bool)
    rows = np.arange(len(valids))
    # a row starts an episode when it is the first or follows an episode's last row
    starts_here = np.concatenate([[True], ~valids[:-1]])
    start_of_row = np.maximum.accumulate(np.where(starts_here, rows, 0))
    index = rows[valids].astype(np.int32)
    return FrameData(
        frames=np.asarray(observations),
        index=index,
        start=start_of_row[valids].astype(np.int32),
        actions=np.asarray(actions, np.float32)[valids],
        rewards=np.asarray(rewards, np.float32)[valids],
        masks=np.asarray(masks, np.float32)[valids],
    )


def stack_rows(index, start, frame_stack: int):
    """(batch, K + 1) frame rows of each transition: ``clip(index - K + 1 + j, start)``, j = 0..K (numpy or jax)."""
    xp = jnp if isinstance(index, jax.Array) else np
    offsets = xp.arange(frame_stack + 1) - (frame_stack - 1)
    return xp.maximum(index[:, None] + offsets[None, :], start[:, None])


def stack_frames(gathered, frame_stack: int):
    """(batch, K + 1, H, W, C) gathered frames -> observations and next observations (batch, H, W, C * K)."""

    def cat(x):  # (batch, K, H, W, C) -> (batch, H, W, K * C), oldest frame first
        b, k, h, w, c = x.shape
        return jnp.moveaxis(x, 1, 3).reshape(b, h, w, k * c)

    return cat(gathered[:, :frame_stack]), cat(gathered[:, 1:])


def shift_images(images, offsets, pad: int = AUG_PAD):
    """Each image (batch, H, W, C) padded by ``pad`` with its edge values and cropped at ``offsets`` (batch, 2) in
    [0, 2 pad]: a shift by ``offsets - pad`` pixels (FQL's ``random_crop``)."""
    h, w, c = images.shape[1:]

    def one(img, off):
        padded = jnp.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        return jax.lax.dynamic_slice(padded, (off[0], off[1], 0), (h, w, c))

    return jax.vmap(one)(images, offsets)


def random_shift(key, batch: dict, p_aug: float, pad: int = AUG_PAD) -> dict:
    """With probability ``p_aug`` (one draw for the minibatch) shift every observation by up to ``pad`` pixels,
    the next observation of a transition by the same offset; other keys unchanged."""
    if p_aug <= 0:
        return batch
    k_apply, k_off = jax.random.split(key)
    n = batch["observations"].shape[0]
    offsets = jax.random.randint(k_off, (n, 2), 0, 2 * pad + 1)
    apply = jax.random.uniform(k_apply) < p_aug
    out = dict(batch)
    for k in ("observations", "next_observations"):
        out[k] = jnp.where(apply, shift_images(batch[k], offsets, pad), batch[k])
    return out


def assemble(gathered, labels: dict, frame_stack: int, p_aug: float, key) -> dict:
    """The minibatch the agents read: stacked uint8 observations, augmented, plus the labels as they are."""
    obs, next_obs = stack_frames(gathered, frame_stack)
    batch = {"observations": obs, "next_observations": next_obs, **labels}
    return random_shift(key, batch, p_aug)


def sample_frames(data: dict, key, batch_size: int, frame_stack: int, p_aug: float) -> dict:
    """A minibatch drawn on the device from device-resident :meth:`FrameData.arrays`."""
    k_idx, k_aug = jax.random.split(key)
    i = jax.random.randint(k_idx, (batch_size,), 0, data["index"].shape[0])
    rows = stack_rows(data["index"][i], data["start"][i], frame_stack)
    gathered = data["frames"][rows]  # (batch, K + 1, H, W, C) uint8
    return assemble(gathered, {k: data[k][i] for k in label_keys(data)}, frame_stack, p_aug, k_aug)


def host_gather(data: FrameData, rng: np.random.Generator, shape: tuple[int, ...], frame_stack: int) -> dict:
    """Minibatches drawn and gathered in host memory: ``gathered`` uint8 (*shape, K + 1, H, W, C) and labels
    (*shape, ...), for :func:`assemble` on the device (the host-streaming path)."""
    n = int(np.prod(shape))
    i = rng.integers(0, len(data), n)
    rows = stack_rows(data.index[i], data.start[i], frame_stack)
    out = {"gathered": data.frames[rows.reshape(-1)].reshape(*shape, frame_stack + 1, *data.frame_shape)}
    for k in label_keys(data):
        v = getattr(data, k)[i]
        out[k] = v.reshape(*shape, *v.shape[1:])
    return out


def stacked_observations(data: FrameData, rows, frame_stack: int) -> dict:
    """Whole (un-augmented) transitions ``rows`` as a host batch (diagnostics, validation losses)."""
    rows = np.asarray(rows)
    r = stack_rows(data.index[rows], data.start[rows], frame_stack)
    gathered = data.frames[r]
    b, k1, h, w, c = gathered.shape
    cat = lambda x: np.moveaxis(x, 1, 3).reshape(b, h, w, -1)  # noqa: E731
    out = {"observations": cat(gathered[:, :frame_stack]), "next_observations": cat(gathered[:, 1:])}
    out.update({k: getattr(data, k)[rows] for k in label_keys(data)})
    return out


class FrameStackEnv:
    """An environment whose observation is its last ``k`` frames on the channel axis, the first frame repeated
    after a reset (FQL's ``envs/env_utils.py`` ``FrameStackWrapper``): what the agent saw in the data."""

    def __init__(self, env, k: int):
        import collections

        self.env, self.k = env, int(k)
        self._frames = collections.deque(maxlen=self.k)

    def __getattr__(self, name):
        return getattr(self.env, name)

    def _obs(self):
        return np.concatenate(list(self._frames), axis=-1)

    def reset(self, **kwargs):
        ob, info = self.env.reset(**kwargs)
        for _ in range(self.k):
            self._frames.append(ob)
        return self._obs(), info

    def step(self, action):
        ob, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(ob)
        return self._obs(), reward, terminated, truncated, info

    def render(self, *args, **kwargs):
        """The newest frame: the camera the agent sees (``front_pixels`` of OGBench's visual environments)."""
        return self.env.render(*args, **kwargs)


class FrameStackFactory:
    """A picklable ``make_env(**kwargs)`` for evaluation workers: the task's factory, then :class:`FrameStackEnv`."""

    def __init__(self, factory, k: int):
        self.factory, self.k = factory, int(k)

    def __call__(self, **kwargs):
        return FrameStackEnv(self.factory(**kwargs), self.k)
