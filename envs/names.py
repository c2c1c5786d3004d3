"""Names and option keys of everything a curriculum config can hold (no heavy imports: used by validation)."""

MINATAR_GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
CLASSIC_GAMES = ("cartpole",)
CARTPOLE_PHYSICS = {"gravity": 9.8, "length": 0.5, "masspole": 0.1, "masscart": 1.0, "force_mag": 10.0}
KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "minatar": ("sticky_action_prob", "difficulty_ramping", "max_episode_steps", "stall_steps", "stall_min_return"),
    "ale": ("repeat_action_probability", "frameskip", "stack_num", "noop_max", "max_num_frames_per_episode",
            "reward_clipping", "episodic_life"),
    "classic": (*CARTPOLE_PHYSICS, "max_episode_steps"),
}
ORDERS = ("fixed", "random")
VECTORIZATIONS = ("batched", "subproc")
# MinAtar backends: torch (every game as tensors on the agent's device) | minatar (the reference package: numpy)
BACKENDS = ("torch", "minatar")
SCHEDULE_KEYS = ("steps_per_task", "cycles", "order")
SPEC_KEYS = ("name", "kind", "tasks", "transforms", "vectorization", "backend", *SCHEDULE_KEYS)
TASK_KEYS = ("game", "name", "transforms")
# transform type → its arguments (required ones first)
TRANSFORM_ARGS: dict[str, tuple[str, ...]] = {
    "reward_scale": ("scale",), "reward_shift": ("offset",), "reward_clip": ("low", "high"), "reward_sign": (),
    "action_permutation": ("permutation",), "channel_permutation": ("permutation",),
    "pixel_permutation": ("permutation",), "sticky_actions": ("prob",),
}
TRANSFORMS = tuple(TRANSFORM_ARGS)
