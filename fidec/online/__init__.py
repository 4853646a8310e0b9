"""Offline-to-online fine-tuning's pieces below the training loop: the replay buffer and the environments.

- :mod:`fidec.online.buffer`: the replay layout (the dataset plus a per-seed ring of online transitions on the
  device), minibatch sampling inside the compiled updates, and the checkpoint segments of the ring;
- :mod:`fidec.online.collect`: the environments (one per seed, stepped in lockstep), transitions with the offline
  data's reward/mask conventions, episode statistics.

The online phase itself (collect k environment steps with one batched policy call each, then run their
k x updates-per-step updates as one compiled call, its logs and checkpoints) is :mod:`fidec.train.online`, run by
the same loop driver as the offline phase.

Semantics follow FQL's ``main.py`` (seohongpark/fql; the authors' FD release, ARC0127/Fisher-Decorator, runs
the same ``main.py``): ``online_steps`` environment steps after ``offline_steps`` updates, one update per
environment step, a replay buffer that starts as the dataset and grows (``ReplayBuffer.
create_from_initial_dataset``, capacity ``max(buffer_size, N + 1)``), or with ``balanced_sampling`` half of each
batch from the dataset and half from a separate buffer of capacity ``buffer_size``; masks ``1 - terminated``.
"""
