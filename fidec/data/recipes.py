"""Episode collection with OGBench's scripted oracles, following OGBench's published generation scripts.

Manipulation (``data_gen_scripts/generate_manipspace.py``): the environment runs in ``data_collection``
mode with ``terminate_at_goal=False``; ``play`` datasets follow the non-Markovian plan oracles (action
noise 0.1, smoothing 0.5), ``noisy`` datasets the closed-loop Markov oracles (minimum action norm 0.4) with
Gaussian action noise whose level ``xi ~ U(0, 0.1)`` is drawn per episode and scaled by
``[1, 1, 1, 3, 10]`` per action dimension, and a random action with probability ``p_random_action``. When
an oracle finishes its task, the environment draws a new target (cube stacking probability per episode:
single 0, double U(0, .25), triple U(.05, .35), quadruple U(.1, .5), otherwise 0.5). Scene episodes
that fail OGBench's health check (a cube out of view) are discarded and redrawn.

Point and ant mazes (``data_gen_scripts/generate_locomaze.py``): the agent moves along the direction to the
maze's BFS subgoal (``get_oracle_subgoal``); ``navigate`` starts anywhere and draws a new vertex-cell goal
whenever the goal is reached, ``stitch`` heads for a cell four steps away, ``explore`` follows a random
direction redrawn every 10 steps. The point agent's action is the direction itself (Gaussian noise 0.5); the
ant's is the deterministic action of the directional-locomotion expert (``fidec data expert ant``) given the
ant's state without its x-y position plus the direction, with Gaussian noise 0.2 (``explore``: 1.0).

Randomness: every episode has its own seed, derived from (seed, dataset, split, episode index), which
seeds NumPy's global generator (used by the oracles and the maze env), the environment's ``np_random``
and its action space. An episode's content therefore depends only on those, not on which worker ran it,
in what order, or whether the run was resumed.
"""

from __future__ import annotations

import zlib
from collections import defaultdict

import numpy as np

from fidec.console import quiet_warnings
from fidec.data.catalog import DatasetSpec
from fidec.data.expert import Expert

#: Per-step keys in file order, with the dtypes OGBench's generation scripts store.
KEY_DTYPES = {
    "observations": np.float32,
    "actions": np.float32,
    "terminals": np.bool_,
    "qpos": np.float32,
    "qvel": np.float32,
    "button_states": np.int64,
}
SPLITS = ("train", "val")


def key_dtypes(spec: DatasetSpec) -> dict:
    """:data:`KEY_DTYPES` for ``spec``: pixel datasets store uint8 observations (generate_manipspace.py L192)."""
    return {**KEY_DTYPES, "observations": np.uint8} if spec.pixels else dict(KEY_DTYPES)


def quiet_imports() -> None:
    """Silence the harmless GLFW 'no DISPLAY' warning MuJoCo's viewer import emits on headless machines (and
    gymnasium's precision warnings): :func:`fidec.console.quiet_warnings`, also in worker processes."""
    quiet_warnings()


def episode_seed(seed: int, dataset: str, split: str, index: int) -> np.random.SeedSequence:
    """The seed sequence of one episode: independent of workers, chunking and resumption."""
    return np.random.SeedSequence([int(seed), zlib.crc32(dataset.encode())], spawn_key=(SPLITS.index(split), index))


def p_stack_for(env_id: str) -> float:
    """The cube stacking probability for one episode (drawn from NumPy's global generator)."""
    if "single" in env_id:
        return 0.0
    if "double" in env_id:
        return np.random.uniform(0.0, 0.25)
    if "triple" in env_id:
        return np.random.uniform(0.05, 0.35)
    if "quadruple" in env_id:
        return np.random.uniform(0.1, 0.5)
    return 0.5


class OracleCollector:
    """Collects episodes of one dataset with OGBench's scripted oracles (or the ant's expert); keeps one
    environment and its oracles for many episodes. (The online phase's environments, stepped by the policy being
    trained, are :class:`fidec.online.collect.OnlineCollector`.)"""

    def __init__(
        self,
        spec: DatasetSpec,
        expert: str | None = None,
        image_size: int | None = None,
        episode_length: int | None = None,
    ):
        if not spec.generatable:
            raise ValueError(f"{spec.name} cannot be generated: {spec.reason}")
        quiet_imports()
        import gymnasium
        import ogbench  # noqa: F401  (registers the environments)

        self.spec = spec
        self.unhealthy_retries = 0
        self.expert = None
        if spec.oracle_family in ("pointmaze", "antmaze"):
            self.env = gymnasium.make(
                spec.env_id, terminate_at_goal=False, max_episode_steps=episode_length or spec.episode_length
            )
            self._init_maze()
            if spec.recipe.get("oracle") == "expert":
                if expert is None:
                    raise ValueError(f"{spec.name} is collected by an expert policy: pass its file")
                self.expert = Expert.load(expert)
        else:
            size = {"width": image_size, "height": image_size} if spec.pixels and image_size else {}
            self.env = gymnasium.make(
                spec.env_id,
                terminate_at_goal=False,
                mode="data_collection",
                max_episode_steps=episode_length or spec.episode_length,
                **size,
            )
            self._init_manip()

    # ----------------------------------------------------------------------------------------- seeding
    def _seed(self, ss: np.random.SeedSequence) -> None:
        legacy, env_ss, space_ss, action_ss = ss.spawn(4)
        np.random.seed(legacy.generate_state(4))
        self.env.unwrapped.np_random = np.random.default_rng(env_ss)
        self.env.action_space.seed(int(space_ss.generate_state(1)[0]))
        self._action_rng = np.random.default_rng(action_ss)

    def _random_action(self) -> np.ndarray:
        """A uniformly random action. OGBench's script calls ``env.action_space.sample()``, but the
        manipulation envs build a new, unseeded ``Box`` on every ``action_space`` access, so the draw
        would come from OS entropy; the same distribution is drawn here from a per-episode generator."""
        space = self.env.action_space
        return self._action_rng.uniform(space.low, space.high).astype(space.dtype)

    def episode(self, ss: np.random.SeedSequence) -> dict[str, np.ndarray]:
        """One episode (``spec.episode_length`` steps) as arrays in the file's dtypes."""
        self._seed(ss)
        rows = self._maze_episode() if self.spec.oracle_family in ("pointmaze", "antmaze") else self._manip_episode()
        dtypes = key_dtypes(self.spec)
        return {k: np.asarray(rows[k], dtype=dtypes[k]) for k in dtypes if k in rows}

    # ------------------------------------------------------------------------------------ manipulation
    def _init_manip(self) -> None:
        from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
        from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
        from ogbench.manipspace.oracles.markov.drawer_markov import DrawerMarkovOracle
        from ogbench.manipspace.oracles.markov.window_markov import WindowMarkovOracle
        from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
        from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
        from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
        from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

        env, r, family = self.env, self.spec.recipe, self.spec.oracle_family
        self.markov = r["oracle"] == "markov"
        self.has_buttons = hasattr(env.unwrapped, "_cur_button_states")
        if self.markov:
            mn = r["min_norm"]
            if family == "cube":
                agents = {"cube": CubeMarkovOracle(env=env, min_norm=mn)}
            elif family == "scene":
                agents = {
                    "cube": CubeMarkovOracle(env=env, min_norm=mn, max_step=100),
                    "button": ButtonMarkovOracle(env=env, min_norm=mn),
                    "drawer": DrawerMarkovOracle(env=env, min_norm=mn),
                    "window": WindowMarkovOracle(env=env, min_norm=mn),
                }
            else:
                agents = {"button": ButtonMarkovOracle(env=env, min_norm=mn, gripper_always_closed=True)}
        else:
            kw = {"noise": r["noise"], "noise_smoothing": r["noise_smoothing"]}
            if family == "cube":
                agents = {"cube": CubePlanOracle(env=env, **kw)}
            elif family == "scene":
                agents = {
                    "cube": CubePlanOracle(env=env, **kw),
                    "button": ButtonPlanOracle(env=env, **kw),
                    "drawer": DrawerPlanOracle(env=env, **kw),
                    "window": WindowPlanOracle(env=env, **kw),
                }
            else:
                agents = {"button": ButtonPlanOracle(env=env, gripper_always_closed=True, **kw)}
        self.agents = agents

    def _manip_episode(self) -> dict[str, list]:
        env, r = self.env, self.spec.recipe
        noise, p_random = r["noise"], r["p_random_action"]
        while True:  # Scene episodes that fail the health check are redrawn, as OGBench does.
            rows: dict[str, list] = defaultdict(list)
            ob, info = env.reset()
            p_stack = p_stack_for(self.spec.env_id)
            if self.markov:
                xi = np.random.uniform(0, noise)
            agent = self.agents[info["privileged/target_task"]]
            agent.reset(ob, info)
            done = False
            while not done:
                if np.random.rand() < p_random:
                    action = self._random_action()
                else:
                    action = np.array(agent.select_action(ob, info))
                    if self.markov:
                        action = action + np.random.normal(0, [xi, xi, xi, xi * 3, xi * 10], action.shape)
                action = np.clip(action, -1, 1)
                next_ob, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if agent.done:
                    agent_ob, agent_info = env.unwrapped.set_new_target(p_stack=p_stack)
                    agent = self.agents[agent_info["privileged/target_task"]]
                    agent.reset(agent_ob, agent_info)
                rows["observations"].append(ob)
                rows["actions"].append(action)
                rows["terminals"].append(done)
                rows["qpos"].append(info["prev_qpos"])
                rows["qvel"].append(info["prev_qvel"])
                if self.has_buttons:
                    rows["button_states"].append(info["prev_button_states"])
                ob = next_ob
            if self.spec.oracle_family == "scene" and not scene_healthy(np.asarray(rows["qpos"])):
                self.unhealthy_retries += 1
                continue
            return rows

    # ---------------------------------------------------------------------------------------- mazes
    def _init_maze(self) -> None:
        maze_map = self.env.unwrapped.maze_map
        all_cells, vertex_cells = [], []
        for i in range(maze_map.shape[0]):
            for j in range(maze_map.shape[1]):
                if maze_map[i, j] != 0:
                    continue
                all_cells.append((i, j))
                vertical_hall = (
                    maze_map[i - 1, j] == 0
                    and maze_map[i + 1, j] == 0
                    and maze_map[i, j - 1] == 1
                    and maze_map[i, j + 1] == 1
                )
                horizontal_hall = (
                    maze_map[i, j - 1] == 0
                    and maze_map[i, j + 1] == 0
                    and maze_map[i - 1, j] == 1
                    and maze_map[i + 1, j] == 1
                )
                if not (vertical_hall or horizontal_hall):
                    vertex_cells.append((i, j))
        self.maze_map, self.all_cells, self.vertex_cells = maze_map, all_cells, vertex_cells

    def _cells_at_distance(self, start: tuple[int, int], steps: int = 4) -> list[tuple[int, int]]:
        """Free cells exactly ``steps`` BFS moves from ``start`` (the 'stitch' goals)."""
        m = self.maze_map
        dist = np.full(m.shape, -1, dtype=int)
        dist[start] = 0
        queue, found = [start], []
        while queue:
            i, j = queue.pop(0)
            for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
                ni, nj = i + di, j + dj
                if 0 <= ni < m.shape[0] and 0 <= nj < m.shape[1] and m[ni, nj] == 0 and dist[ni, nj] == -1:
                    dist[ni, nj] = dist[i, j] + 1
                    queue.append((ni, nj))
                    if dist[ni, nj] == steps:
                        found.append((ni, nj))
        return found

    def _maze_episode(self) -> dict[str, list]:
        env, u, dtype = self.env, self.env.unwrapped, self.spec.dataset_type
        noise = self.spec.recipe["noise"]
        init_ij = self.all_cells[np.random.randint(len(self.all_cells))]
        if dtype in ("navigate", "explore"):
            goal_ij = self.vertex_cells[np.random.randint(len(self.vertex_cells))]
        else:  # stitch
            near = self._cells_at_distance(init_ij)
            goal_ij = near[np.random.randint(len(near))] if near else init_ij
        ob, _ = env.reset(options={"task_info": {"init_ij": init_ij, "goal_ij": goal_ij}})
        rows: dict[str, list] = defaultdict(list)
        done, step, explore_dir = False, 0, None
        while not done:
            if dtype == "explore":  # a random direction every 10 steps
                if step % 10 == 0:
                    explore_dir = np.random.randn(2)
                    explore_dir = explore_dir / (np.linalg.norm(explore_dir) + 1e-6)
                direction = explore_dir
            else:
                subgoal_xy, _ = u.get_oracle_subgoal(u.get_xy(), u.cur_goal_xy)
                direction = subgoal_xy - u.get_xy()
                direction = direction / (np.linalg.norm(direction) + 1e-6)
            if self.expert is None:
                action = direction  # the point agent's "expert" returns the subgoal direction itself
            else:  # the ant expert sees its state without the x-y position, plus the direction
                action = self.expert(np.concatenate([u.get_ob(ob_type="states")[2:], direction]))
            action = action + np.random.normal(0, noise, action.shape)
            action = np.clip(action, -1, 1)
            next_ob, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if info["success"] and dtype == "navigate":
                u.set_goal(self.vertex_cells[np.random.randint(len(self.vertex_cells))])
            rows["observations"].append(ob)
            rows["actions"].append(action)
            rows["terminals"].append(done)
            rows["qpos"].append(info["prev_qpos"])
            rows["qvel"].append(info["prev_qvel"])
            ob = next_ob
            step += 1
        return rows


def scene_healthy(qpos: np.ndarray) -> bool:
    """OGBench's scene health check: the cube stays in view unless it is in the drawer."""
    xyz = qpos[:, 14:17]
    if (xyz[:, 1] >= 0.29).any():
        return False  # too far right
    if ((xyz[:, 1] <= -0.3) & ((xyz[:, 2] < 0.06) | (xyz[:, 2] > 0.08))).any():
        return False  # too far left without being in the drawer
    return True
