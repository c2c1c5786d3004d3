"""Names of the games and choices a curriculum spec refers to (no heavy imports); every key of a spec, its type and
range: envs/spec.py."""

MINATAR_GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
CLASSIC_GAMES = ("cartpole",)
CARTPOLE_PHYSICS = {"gravity": 9.8, "length": 0.5, "masspole": 0.1, "masscart": 1.0, "force_mag": 10.0}
ORDERS = ("fixed", "random")
SWITCHES = ("step", "episode_end")  # when a visit ends: at its last step, or at the first episode end after it
VECTORIZATIONS = ("batched", "subproc")
# MinAtar backends: torch (every game as tensors on the agent's device) | minatar (the reference package: numpy)
BACKENDS = ("torch", "minatar")
TRANSFORMS = ("reward_scale", "reward_shift", "reward_clip", "reward_sign", "action_permutation",
              "channel_permutation", "pixel_permutation", "sticky_actions", "dynamics")
