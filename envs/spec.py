"""The curriculum spec (``conf/env/*.yaml``, the ``env`` section of a run) as typed models: every key, its type and
range, checked once, in one line, before any env is built.

A spec::

    kind: minatar                 # minatar | ale | classic
    tasks:                        # a game name, or {game: ..., name: ..., transforms: [...], <the kind's options>}
      - breakout
      - {game: breakout, name: breakout_flipped, transforms: [{type: reward_scale, scale: -1}]}
    transforms: []                # applied to every task, after the task's own
    steps_per_task: 250000        # global env steps per visit (one number or one per task)
    cycles: 2
    order: fixed                  # fixed | random (seeded per cycle)
    vectorization: batched        # batched (one process) | subproc (one worker process per env)
    backend: torch                # MinAtar: torch (tensors on the run's device) | minatar (the reference package)
    sticky_action_prob: 0.1       # the kind's options: for every task, overridable per task

The kind's options (:class:`MinAtarOptions`, :class:`ALEOptions`, :class:`ClassicOptions`) default to ``null``:
the env's own default (MinAtar: sticky actions 0.1, difficulty ramping, no episode cap; ALE: envs/ale.py; CartPole:
gymnasium's physics and its 500-step cap), so no default is restated here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from envs.names import BACKENDS, CARTPOLE_PHYSICS, CLASSIC_GAMES, MINATAR_GAMES, ORDERS, SWITCHES, VECTORIZATIONS

# kind → (actions, channels, pixels) of the shared observation/action spaces: the sizes of their permutations
SPACE_SIZES = {"minatar": (6, 10, 100), "ale": (18, 4, 84 * 84), "classic": (2, 0, 0), "mujoco": (0, 0, 0)}


class Strict(BaseModel):
    """A config section: unknown keys, values of the wrong type, NaN and ±inf are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# -- transforms ------------------------------------------------------------------------------------------------
class RewardScale(Strict):
    type: Literal["reward_scale"]
    scale: float


class RewardShift(Strict):
    type: Literal["reward_shift"]
    offset: float


class RewardClip(Strict):
    type: Literal["reward_clip"]
    low: float | None = None   # null: the transform's default (−1)
    high: float | None = None  # null: +1


class RewardSign(Strict):
    type: Literal["reward_sign"]


class ActionPermutation(Strict):
    type: Literal["action_permutation"]
    permutation: list[int] | None = None  # null: a fresh random permutation at every visit


class ChannelPermutation(Strict):
    type: Literal["channel_permutation"]
    permutation: list[int] | None = None


class PixelPermutation(Strict):
    type: Literal["pixel_permutation"]
    permutation: list[int] | None = None


class StickyActions(Strict):
    type: Literal["sticky_actions"]
    prob: float = Field(ge=0.0, le=1.0)


class DynamicsSpec(Strict):
    """MuJoCo physics of the task (envs/mujoco.py): ``null`` keeps the model's own value."""

    type: Literal["dynamics"]
    friction: float | None = Field(None, gt=0.0, description="sliding friction of every geom (floor and robot)")
    mass_scale: float | None = Field(None, gt=0.0)
    damping_scale: float | None = Field(None, ge=0.0)
    gravity_scale: float | None = Field(None, ge=0.0)


Transform = Annotated[RewardScale | RewardShift | RewardClip | RewardSign | ActionPermutation | ChannelPermutation
                      | PixelPermutation | StickyActions | DynamicsSpec, Field(discriminator="type")]
PERMUTATIONS = {"action_permutation": 0, "channel_permutation": 1, "pixel_permutation": 2}  # index in SPACE_SIZES


# -- the kinds' options ----------------------------------------------------------------------------------------
class MuJoCoOptions(Strict):
    max_episode_steps: int | None = Field(None, ge=1)  # null: gymnasium's (1000)
    env_kwargs: dict[str, Any] | None = None  # gymnasium.make's keyword arguments, e.g. {contact_cost_weight: 0}


class MinAtarOptions(Strict):
    sticky_action_prob: float | None = Field(None, ge=0.0, le=1.0)
    difficulty_ramping: bool | None = None
    max_episode_steps: int | None = Field(None, ge=1)  # null: no cap (MinAtar's episodes end by themselves)
    stall_steps: int | None = Field(None, ge=1)         # C-CHAIN's Seaquest guard (1000 with stall_min_return 0.1)
    stall_min_return: float | None = None


class ALEOptions(Strict):
    repeat_action_probability: float | None = Field(None, ge=0.0, le=1.0)
    frameskip: int | None = Field(None, ge=1)
    stack_num: int | None = Field(None, ge=1)
    noop_max: int | None = Field(None, ge=0)
    max_num_frames_per_episode: int | None = Field(None, ge=1)
    reward_clipping: bool | None = None
    episodic_life: bool | None = None


class ClassicOptions(Strict):
    gravity: float | None = Field(None, gt=0.0)
    length: float | None = Field(None, gt=0.0)
    masspole: float | None = Field(None, gt=0.0)
    masscart: float | None = Field(None, gt=0.0)
    force_mag: float | None = Field(None, gt=0.0)
    max_episode_steps: int | None = Field(None, ge=1)


assert set(CARTPOLE_PHYSICS) <= set(ClassicOptions.model_fields)


def _task(entry: Any) -> Any:
    return {"game": entry} if isinstance(entry, str) else entry


class _Task(Strict):
    game: str
    name: str | None = None       # null: the game's name
    transforms: list[Transform] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        return _task(data)


class MinAtarTask(MinAtarOptions, _Task):
    pass


class ALETask(ALEOptions, _Task):
    pass


class ClassicTask(ClassicOptions, _Task):
    pass


class MuJoCoTask(MuJoCoOptions, _Task):
    pass


class _Curriculum(Strict):
    name: str | None = None
    transforms: list[Transform] = Field(default_factory=list)
    steps_per_task: int | list[int] = 1_000_000
    cycles: int = Field(1, ge=1)
    order: Literal[ORDERS] = "fixed"  # type: ignore[valid-type]
    vectorization: Literal[VECTORIZATIONS] = "batched"  # type: ignore[valid-type]
    switch: Literal[SWITCHES] = "step"  # type: ignore[valid-type]  # episode_end: envs/curriculum.py

    @model_validator(mode="after")
    def _checks(self) -> _Curriculum:
        kind = self.kind  # type: ignore[attr-defined]
        tasks = self.tasks  # type: ignore[attr-defined]
        if not tasks:
            raise ValueError("tasks=[]: the curriculum needs at least one task")
        if self.switch == "episode_end" and self.vectorization == "subproc":
            raise ValueError("switch='episode_end': needs vectorization=batched (workers cannot see each other's "
                             "episode ends)")
        steps = self.steps_per_task if isinstance(self.steps_per_task, list) else [self.steps_per_task]
        if isinstance(self.steps_per_task, list) and len(steps) != len(tasks):
            raise ValueError(f"steps_per_task={steps}: {len(steps)} values for {len(tasks)} tasks")
        if any(s < 1 for s in steps):
            raise ValueError(f"steps_per_task={self.steps_per_task!r}: must be >= 1")
        for where, transforms in [("transforms", self.transforms),
                                  *((f"tasks[{i}].transforms", t.transforms) for i, t in enumerate(tasks))]:
            for j, t in enumerate(transforms):
                if t.type == "dynamics" and kind != "mujoco":
                    raise ValueError(f"{where}[{j}].type='dynamics': is for kind mujoco")
                if t.type in PERMUTATIONS:
                    size = SPACE_SIZES[kind][PERMUTATIONS[t.type]]
                    if kind == "mujoco":
                        raise ValueError(f"{where}[{j}].type={t.type!r}: needs discrete actions or images (kind "
                                         "minatar, ale or classic)")
                    if t.type != "action_permutation" and kind == "classic":
                        raise ValueError(f"{where}[{j}].type={t.type!r}: needs image observations (kind minatar or "
                                         "ale)")
                    if t.permutation is not None and sorted(t.permutation) != list(range(size)):
                        raise ValueError(f"{where}[{j}].permutation={t.permutation}: must be a permutation of "
                                         f"0..{size - 1} ({size} items)")
        return self


class MinAtarCurriculum(MinAtarOptions, _Curriculum):
    kind: Literal["minatar"] = "minatar"
    tasks: list[MinAtarTask]
    backend: Literal[BACKENDS] = "torch"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _minatar(self) -> MinAtarCurriculum:
        for i, task in enumerate(self.tasks):
            if task.game not in MINATAR_GAMES:
                raise ValueError(f"tasks[{i}].game={task.game!r}: unknown minatar game; valid games: "
                                 f"{', '.join(MINATAR_GAMES)}")
        if self.vectorization == "subproc" and self.backend == "torch":
            raise ValueError("vectorization='subproc': runs numpy envs in worker processes; with MinAtar set "
                             "env.backend=minatar too (the torch backend is batched already)")
        return self


class ALECurriculum(ALEOptions, _Curriculum):
    kind: Literal["ale"]
    tasks: list[ALETask]

    @model_validator(mode="after")
    def _roms(self) -> ALECurriculum:
        import ale_py.roms
        roms = ale_py.roms.get_all_rom_ids()
        for i, task in enumerate(self.tasks):
            if task.game.lower().replace("-", "_") not in roms:
                raise ValueError(f"tasks[{i}].game={task.game!r}: unknown ale game; valid games: "
                                 f"{', '.join(roms[:10])}, … ({len(roms)} ROMs)")
        return self


class ClassicCurriculum(ClassicOptions, _Curriculum):
    kind: Literal["classic"]
    tasks: list[ClassicTask]

    @model_validator(mode="after")
    def _games(self) -> ClassicCurriculum:
        for i, task in enumerate(self.tasks):
            if task.game not in CLASSIC_GAMES:
                raise ValueError(f"tasks[{i}].game={task.game!r}: unknown classic game; valid games: "
                                 f"{', '.join(CLASSIC_GAMES)}")
        return self


class FrictionSchedule(Strict):
    """Dohare et al.'s Slippery Ant frictions: ``changes`` visits of the curriculum's one task, the friction of each
    from row ``<run seed>`` of their table (envs/mujoco.py: dohare_frictions)."""

    table: Literal["dohare"] = "dohare"
    changes: int = Field(ge=1)


class MuJoCoCurriculum(MuJoCoOptions, _Curriculum):
    kind: Literal["mujoco"]
    tasks: list[MuJoCoTask]
    frictions: FrictionSchedule | None = None

    @model_validator(mode="after")
    def _mujoco(self) -> MuJoCoCurriculum:
        from envs.mujoco import GAMES
        for i, task in enumerate(self.tasks):
            if task.game not in GAMES and task.game not in GAMES.values():
                raise ValueError(f"tasks[{i}].game={task.game!r}: unknown mujoco game; valid games: "
                                 f"{', '.join(GAMES)}")
        if self.frictions is not None and (len(self.tasks) != 1 or self.cycles != 1):
            raise ValueError(f"frictions={self.frictions.model_dump()}: needs one task and cycles=1 (each friction "
                             "is a visit of that task)")
        return self


KINDS = {"minatar": MinAtarCurriculum, "ale": ALECurriculum, "classic": ClassicCurriculum,
         "mujoco": MuJoCoCurriculum}
KIND_OPTIONS = {"minatar": MinAtarOptions, "ale": ALEOptions, "classic": ClassicOptions, "mujoco": MuJoCoOptions}


def _kind_of(data: Any) -> str:
    return data.get("kind", "minatar") if isinstance(data, dict) else getattr(data, "kind", "minatar")


CurriculumSpec = Annotated[Annotated[MinAtarCurriculum, Tag("minatar")] | Annotated[ALECurriculum, Tag("ale")]
                           | Annotated[ClassicCurriculum, Tag("classic")] | Annotated[MuJoCoCurriculum, Tag("mujoco")],
                           Discriminator(_kind_of)]


class _Holder(BaseModel):
    env: CurriculumSpec


TAGS = {*KINDS, *(m.model_fields["type"].annotation.__args__[0] for m in (  # type: ignore[union-attr]
    RewardScale, RewardShift, RewardClip, RewardSign, ActionPermutation, ChannelPermutation, PixelPermutation,
    StickyActions, DynamicsSpec))}
Curriculum = MinAtarCurriculum | ALECurriculum | ClassicCurriculum | MuJoCoCurriculum


def task_options(spec: Curriculum, task: _Task) -> dict[str, Any]:
    """The kind's options of ``task``: the curriculum's, then the task's own; ``null`` (or not given anywhere) leaves
    an option to the env's default — a task's explicit ``null`` undoes the curriculum's value."""
    names = KIND_OPTIONS[spec.kind].model_fields
    options = {k: getattr(spec, k) for k in names if getattr(spec, k) is not None}
    for k in names:
        if k in task.model_fields_set:
            value = getattr(task, k)
            if value is None:
                options.pop(k, None)
            else:
                options[k] = value
    return options


def _key(loc: tuple, prefix: str) -> str:
    key = prefix
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part not in TAGS and part not in ("int", "float", "str", "bool") and "[" not in str(part):
            key += f".{part}" if key else str(part)
    return key


BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def validate_spec(spec: Any) -> Curriculum:
    """The typed spec; raises pydantic's ``ValidationError`` (located under ``env``) for the caller to format."""
    return _Holder.model_validate({"env": dict(spec) if isinstance(spec, dict) else spec}).env


def parse_spec(spec: Any, prefix: str = "env") -> Curriculum:
    """The typed spec, or a one-line ``ValueError``: ``<key>: <what is wrong>``."""
    try:
        return validate_spec(spec)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        key = prefix + _key(tuple(first["loc"]), "").removeprefix("env")
        message, value, ctx = first["msg"].removeprefix("Value error, "), first.get("input"), first.get("ctx") or {}
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        elif first["type"] == "missing":
            message, value = "is required", None
        elif first["type"] in BOUNDS:
            message = f"must be {BOUNDS[first['type']]} {next(iter(ctx.values()))}"
        elif first["type"] in ("union_tag_invalid", "literal_error"):
            expected = str(ctx.get("expected_tags", ctx.get("expected", ""))).replace(" or ", ", ")
            message = "valid choices: " + ", ".join(e.strip("'") for e in expected.split(", "))
            if "tag" in ctx:
                field = str(ctx.get("discriminator", "")).strip("'")
                key, value = f"{key}.{'kind' if field.startswith('_kind') else field}", ctx["tag"]
        if message.split(":")[0].count("=") == 1 and first["type"] == "value_error":  # our "<key>=<value>: why"
            raise ValueError(f"{prefix}.{message}" if not message.startswith("[") else prefix + message) from None
        raise ValueError(f"{key}={value!r}: {message}") from None


def observation_bytes(spec: Any) -> int:
    """Bytes of one observation in its own dtype: MinAtar bool (10, 10, 10), ALE uint8 frames (stack × 84 × 84),
    CartPole float32 (4,)."""
    kind = spec.get("kind", "minatar") if isinstance(spec, dict) else spec.kind
    if kind == "minatar":
        return 10 * 10 * 10
    if kind == "mujoco":
        return 4 * 400  # float32; the largest of the supported games (Humanoid would need more)
    if kind == "ale":
        from envs.ale import DEFAULTS
        stack = spec.get("stack_num") if isinstance(spec, dict) else spec.stack_num
        return int(stack or DEFAULTS["stack_num"]) * 84 * 84
    return 4 * 4
