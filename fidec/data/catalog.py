"""The OGBench datasets fidec knows: how each was made, and whether it can be made here.

Recipes follow OGBench's published generation commands (``data_gen_scripts/commands.sh`` in the
OGBench repository): episode counts, episode lengths, oracle type and noise. The ant mazes are generated
with an ant expert that ``fidec data expert ant`` trains here (OGBench's experts are a separate download,
not in the ``ogbench`` package). Datasets
whose data collection needs experts fidec does not train (humanoid, antsoccer's ball dribbler), pixel
rendering (``visual-*``) or a generator fidec does not implement (powderworld) are download-only, with the
reason and, for the experts, the cost measured on a 2-core CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fidec.errors import DatasetError

GENERATE = "generate"
DOWNLOAD_ONLY = "download-only"

#: Measured on this project's 2-core CPU (benchmarks/antmaze/README.md): SAC updates per second with each
#: recipe's networks and environment steps per second; the cost is train_steps / that rate.
HUMANOID_REASON = (
    "needs OGBench's humanoid expert (40M SAC steps with 3x1024 critics; a separate download): ~{h} days on "
    "2 CPU cores as measured here (2 updates/s); fidec trains only the ant expert"
)
ANTSOCCER_REASON = (
    "needs OGBench's ant-dribbling expert (12M SAC steps; a separate download) besides the ant one: ~{s} h on 2 CPU "
    "cores as measured here; fidec trains only the ant expert"
)
#: The ant expert's cost (``fidec data expert ant``, 400k steps) measured here.
ANT_EXPERT_COST = "~1 h, 2-3 h on a busy machine"
#: Measured days for the experts fidec does not train (see HUMANOID_REASON, ANTSOCCER_REASON).
HUMANOID_EXPERT_DAYS = 56
ANTSOCCER_EXPERT_HOURS = 20
#: Ant maze collection with the expert, measured here: environment steps per second with 2 workers.
ANT_COLLECT_STEPS_PER_S = 750.0


def ant_dataset_minutes(episodes: int, length: int) -> int:
    """Minutes to collect an ant maze dataset (train + validation) at the measured rate."""
    steps = (episodes + val_episodes_for(episodes)) * length
    return max(1, round(steps / ANT_COLLECT_STEPS_PER_S / 60))


VISUAL_REASON = (
    "fidec renders pixel datasets of the manipulation families only (rendering the visual mazes is not implemented)"
)
#: Rendered 64x64 frames per second with one worker (MuJoCo's offscreen renderer, MUJOCO_GL=egl; Mesa's software
#: llvmpipe on this project's 2-core CPU, busy with other jobs; benchmarks/pixels/generate.txt).
VISUAL_FRAMES_PER_S_CPU = 3.3


def visual_note(episodes: int, length: int) -> str:
    """'fidec data list''s cost of rendering a visual dataset on this CPU, against downloading it."""
    frames = (episodes + val_episodes_for(episodes)) * length
    hours = frames / VISUAL_FRAMES_PER_S_CPU / 3600
    return (
        f"renders {frames:,} frames: ~{hours:,.0f} h at the {VISUAL_FRAMES_PER_S_CPU:g} frames/s measured per CPU "
        "worker here (MUJOCO_GL=egl, software GL); 'fidec data download' or a GPU machine for full size"
    )


POWDERWORLD_REASON = "the powderworld generator is not implemented in fidec"


@dataclass(frozen=True)
class DatasetSpec:
    """One OGBench dataset: ``{name}.npz`` (train) and ``{name}-val.npz`` (a tenth as many episodes)."""

    name: str
    #: cube | scene | puzzle | pointmaze | antmaze | humanoidmaze | antsoccer | visual | powderworld
    family: str
    env_id: str  # the goal-conditioned environment the data was collected in, e.g. 'cube-single-v0'
    dataset_type: str  # play | noisy | navigate | stitch | explore
    episodes: int  # train episodes; validation has episodes // 10
    episode_length: int  # steps stored per episode (the collection env's max_episode_steps)
    recipe: dict = field(default_factory=dict, compare=False, hash=False)
    obtain: str = GENERATE
    reason: str = ""
    note: str = ""  # shown after 'generate' in 'fidec data list' (what else it needs, what it costs)
    twin_family: str = ""  # visual-*: the family of the state-based twin (same oracles, same tasks)

    @property
    def pixels(self) -> bool:
        """Pixel observations (uint8 64x64x3 frames of the ``front_pixels`` camera)."""
        return self.name.startswith("visual-")

    @property
    def oracle_family(self) -> str:
        """The family whose oracles and tasks the dataset uses: a visual dataset's state-based twin's."""
        return self.twin_family or self.family

    @property
    def val_episodes(self) -> int:
        return val_episodes_for(self.episodes)

    @property
    def generatable(self) -> bool:
        return self.obtain == GENERATE

    @property
    def has_buttons(self) -> bool:
        return self.oracle_family in ("scene", "puzzle")

    def how(self) -> str:
        if self.generatable:
            return f"{GENERATE} ({self.note})" if self.note else GENERATE
        return f"{DOWNLOAD_ONLY} ({self.reason})"


def val_episodes_for(train_episodes: int) -> int:
    """Validation episodes for ``train_episodes``: a tenth, at least one."""
    return max(1, int(train_episodes) // 10)


def _manip_recipe(dataset_type: str, family: str) -> dict:
    if dataset_type == "play":
        return {"oracle": "plan", "noise": 0.1, "noise_smoothing": 0.5, "p_random_action": 0.0}
    # 'noisy': Markov (closed-loop) oracle, per-episode Gaussian noise level xi ~ U(0, noise), random actions.
    p_random = 0.2 if family == "puzzle" else 0.1
    return {"oracle": "markov", "noise": 0.1, "min_norm": 0.4, "p_random_action": p_random}


def _build() -> dict[str, DatasetSpec]:
    specs: list[DatasetSpec] = []

    # Manipulation (state-based, generatable with OGBench's plan/Markov oracles).
    manip_counts = {
        "cube-single": 1000,
        "cube-double": 1000,
        "cube-triple": 3000,
        "cube-quadruple": 5000,
        "scene": 1000,
        "puzzle-3x3": 1000,
        "puzzle-4x4": 1000,
        "puzzle-4x5": 3000,
        "puzzle-4x6": 5000,
    }
    for prefix, n in manip_counts.items():
        family = prefix.split("-")[0]
        for dtype in ("play", "noisy"):
            specs.append(
                DatasetSpec(
                    name=f"{prefix}-{dtype}-v0",
                    family=family,
                    env_id=f"{prefix}-v0",
                    dataset_type=dtype,
                    episodes=n,
                    episode_length=1001,
                    recipe=_manip_recipe(dtype, family),
                )
            )
            specs.append(
                DatasetSpec(
                    name=f"visual-{prefix}-{dtype}-v0",
                    family="visual",
                    env_id=f"visual-{prefix}-v0",
                    dataset_type=dtype,
                    episodes=n,
                    episode_length=1001,
                    recipe=_manip_recipe(dtype, family),
                    note=visual_note(n, 1001),
                    twin_family=family,
                )
            )

    # Point mazes: the maze's BFS subgoal oracle (the point agent moves along the subgoal direction).
    for maze in ("medium", "large", "giant", "teleport"):
        nav_eps, nav_len = (500, 2001) if maze == "giant" else (1000, 1001)
        for dtype, n, length in (("navigate", nav_eps, nav_len), ("stitch", 5000, 201)):
            specs.append(
                DatasetSpec(
                    name=f"pointmaze-{maze}-{dtype}-v0",
                    family="pointmaze",
                    env_id=f"pointmaze-{maze}-v0",
                    dataset_type=dtype,
                    episodes=n,
                    episode_length=length,
                    recipe={"oracle": "subgoal", "noise": 0.5},
                )
            )

    # Locomotion with trained experts: the ant mazes are generated with fidec's ant expert (generate_locomaze.py:
    # Gaussian action noise 0.2 (its default) for navigate/stitch, 1.0 for explore); the rest download-only.
    ant = [
        ("medium", "navigate", 1000, 1001),
        ("large", "navigate", 1000, 1001),
        ("giant", "navigate", 500, 2001),
        ("teleport", "navigate", 1000, 1001),
        ("medium", "stitch", 5000, 201),
        ("large", "stitch", 5000, 201),
        ("giant", "stitch", 5000, 201),
        ("teleport", "stitch", 5000, 201),
        ("medium", "explore", 10000, 501),
        ("large", "explore", 10000, 501),
        ("teleport", "explore", 10000, 501),
    ]
    humanoid = [
        ("medium", "navigate", 1000, 2001),
        ("large", "navigate", 1000, 2001),
        ("giant", "navigate", 1000, 4001),
        ("medium", "stitch", 5000, 401),
        ("large", "stitch", 5000, 401),
        ("giant", "stitch", 10000, 401),
    ]
    for agent, rows in (("antmaze", ant), ("humanoidmaze", humanoid)):
        for visual in ("", "visual-"):
            for maze, dtype, n, length in rows:
                if agent == "antmaze":
                    recipe = {"oracle": "expert", "expert": "ant", "noise": 1.0 if dtype == "explore" else 0.2}
                else:
                    recipe = {"oracle": "expert", "expert": "humanoid"}
                generatable = agent == "antmaze" and not visual
                if visual:
                    reason = VISUAL_REASON
                elif agent == "humanoidmaze":
                    reason = HUMANOID_REASON.format(h=HUMANOID_EXPERT_DAYS)
                else:
                    reason = ""
                specs.append(
                    DatasetSpec(
                        name=f"{visual}{agent}-{maze}-{dtype}-v0",
                        family="visual" if visual else agent,
                        twin_family=agent if visual else "",
                        env_id=f"{visual}{agent}-{maze}-v0",
                        dataset_type=dtype,
                        episodes=n,
                        episode_length=length,
                        recipe=recipe,
                        obtain=GENERATE if generatable else DOWNLOAD_ONLY,
                        reason=reason,
                        note=(
                            f"needs the ant expert ('fidec data expert ant': {ANT_EXPERT_COST} on 2 CPU cores), "
                            f"then ~{ant_dataset_minutes(n, length)} min with 2 workers"
                            if generatable
                            else ""
                        ),
                    )
                )
    for arena, dtype, n, length in (
        ("arena", "navigate", 1000, 1001),
        ("medium", "navigate", 4000, 1001),
        ("arena", "stitch", 5000, 201),
        ("medium", "stitch", 8000, 501),
    ):
        specs.append(
            DatasetSpec(
                name=f"antsoccer-{arena}-{dtype}-v0",
                family="antsoccer",
                env_id=f"antsoccer-{arena}-v0",
                dataset_type=dtype,
                episodes=n,
                episode_length=length,
                recipe={"oracle": "expert", "expert": "antball"},
                obtain=DOWNLOAD_ONLY,
                reason=ANTSOCCER_REASON.format(s=ANTSOCCER_EXPERT_HOURS),
            )
        )
    for level, n in (("easy", 1000), ("medium", 3000), ("hard", 5000)):
        specs.append(
            DatasetSpec(
                name=f"powderworld-{level}-play-v0",
                family="powderworld",
                env_id=f"powderworld-{level}-v0",
                dataset_type="play",
                episodes=n,
                episode_length=1001,
                recipe={"oracle": "powderworld-behaviors"},
                obtain=DOWNLOAD_ONLY,
                reason=POWDERWORLD_REASON,
            )
        )
    # State-based first, then pixel-based, then the rest; each group in OGBench's order.
    order = {"visual": 1, "powderworld": 2}
    specs.sort(key=lambda s: order.get(s.family, 0))
    return {s.name: s for s in specs}


CATALOG: dict[str, DatasetSpec] = _build()


def dataset_name_for_env(env_name: str) -> str:
    """The dataset an OGBench env name loads, as ``ogbench.make_env_and_datasets`` derives it.

    'cube-single-play-singletask-task2-v0' -> 'cube-single-play-v0';
    'cube-single-play-singletask-v0' -> 'cube-single-play-v0'; 'cube-single-play-oraclerep-v0' ->
    'cube-single-play-v0'; a dataset name is returned unchanged.
    """
    parts = env_name.split("-")
    if "singletask" in parts:
        pos = parts.index("singletask")
        return "-".join(parts[:pos] + parts[-1:])
    if "oraclerep" in parts:
        return "-".join(parts[:-2] + parts[-1:])
    return env_name


def get_spec(name: str) -> DatasetSpec:
    """The catalogue entry for a dataset or env name; a one-line error naming close matches otherwise."""
    dataset = dataset_name_for_env(name)
    if dataset in CATALOG:
        return CATALOG[dataset]
    stem = re.sub(r"-v\d+$", "", dataset)
    close = [n for n in CATALOG if stem and (stem in n or n.startswith(stem.split("-")[0] + "-"))]
    hint = f"; similar: {', '.join(sorted(close)[:6])}" if close else ""
    raise DatasetError(f"unknown dataset {name!r}{hint} (see 'fidec data list')")


def task_env_names(spec: DatasetSpec, tasks: range = range(1, 6)) -> list[str]:
    """The singletask env names whose rewards are relabelled from ``spec``'s data (task1..task5)."""
    stem = spec.name[: -len("-v0")] if spec.name.endswith("-v0") else spec.name
    return [f"{stem}-singletask-task{i}-v0" for i in tasks]
