"""Where the training data lives: on the device, or in host memory and streamed to the device in chunks.

Memory plan (pixel datasets; docs/pixels.md, "Memory plan"). A visual dataset is stored as uint8 frames, each frame
once (:mod:`fidec.data.frames`): 1000 x 1001 frames of 64x64x3 are 12.3 GB, plus 20 bytes per transition of labels
and frame indices. Minibatches are stacked (K frames) and augmented on the device, in the compiled update.

- ``device``: the whole FrameData on the accelerator (an H100's 80 GB holds it with room to spare); each update
  gathers its minibatch there. Nothing crosses the host-device link during training.
- ``host``: the frames stay in host memory. A background thread draws the minibatches of the next
  ``stream_updates`` updates, gathers their K + 1 frames per transition (uint8), and puts them on the device
  while the current chunk runs; two chunks are queued ahead. Per update that is batch x (K + 1) frames (256 x 4 x
  12 KiB = 12.6 MB at the visual configuration), so 50 updates are a 630 MB transfer.
- ``auto`` (default): ``device`` when the data fits ``data_memory_budget_gb`` (0: 60% of the accelerator's memory
  as XLA reports it; on a CPU backend, whose device memory is host memory, always ``device``).

Minibatch indices: on the device from the update's key (``device``), on the host from a NumPy generator seeded
by (run seed, step) (``host``), so a resumed run draws the same minibatches either way.
"""

from __future__ import annotations

import queue
import threading

import jax
import jax.numpy as jnp
import numpy as np

from fidec.data.frames import FrameData, host_gather

DEFAULT_DEVICE_FRACTION = 0.6


def device_memory_bytes() -> int | None:
    """The accelerator's memory as XLA reports it (``bytes_limit``), None on a CPU backend."""
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return None
    stats = dev.memory_stats() or {}
    return stats.get("bytes_limit")


def choose_placement(mode: str, nbytes: int, budget_gb: float = 0.0, device_bytes: int | None = None) -> str:
    """'device' or 'host' for data of ``nbytes`` under ``mode`` ('auto', 'device', 'host')."""
    if mode in ("device", "host"):
        return mode
    if budget_gb > 0:
        return "device" if nbytes <= budget_gb * 2**30 else "host"
    if device_bytes is None:
        return "device"  # CPU backend: the device is host memory
    return "device" if nbytes <= DEFAULT_DEVICE_FRACTION * device_bytes else "host"


def to_device_frames(data: FrameData) -> dict:
    """FrameData's arrays on the device; the frames stay uint8."""
    return {k: jnp.asarray(v) for k, v in data.arrays().items()}


class Prefetcher:
    """Chunks of ``updates`` pre-gathered minibatches (``members`` x ``batch_size`` each), made by a background
    thread ``depth`` chunks ahead and put on the device. Chunk ``j`` after ``start_step`` is drawn from
    ``default_rng([seed, start_step + j * updates])``: deterministic, whatever the timing."""

    def __init__(
        self,
        data: FrameData,
        *,
        updates: int,
        members: int,
        batch_size: int,
        frame_stack: int,
        seed: int,
        start_step: int,
        depth: int = 2,
    ):
        self.data, self.updates, self.members = data, updates, members
        self.batch_size, self.frame_stack, self.seed = batch_size, frame_stack, seed
        self.next_step = start_step
        self.wait_s = 0.0  # time the consumer spent waiting for a chunk (a stall of the compiled updates)
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(start_step,), daemon=True)
        self._thread.start()

    def _produce(self, step: int) -> None:
        try:
            while not self._stop.is_set():
                rng = np.random.default_rng([self.seed, step])
                host = host_gather(self.data, rng, (self.updates, self.members, self.batch_size), self.frame_stack)
                chunk = jax.device_put(host)
                while not self._stop.is_set():
                    try:
                        self._q.put((step, chunk), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                step += self.updates
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._q.put((None, e))

    def get(self) -> dict:
        import time

        t0 = time.perf_counter()
        step, chunk = self._q.get()
        self.wait_s += time.perf_counter() - t0
        if step is None:
            raise chunk
        self.next_step = step + self.updates
        return chunk

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
