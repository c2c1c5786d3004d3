"""MinAtar on torch tensors: all five games, N envs stepped together on any device (``docs/envs.md``).

Each game is a module with the reference's state and branch order, written over the batch with fixed shapes
and masks (:mod:`envs.minatar_torch.base` for the conventions); :class:`TorchMinAtarVectorEnv` adds sticky actions,
episode caps and same-step autoreset. The ``minatar`` package stays the test oracle and the reference backend
(``env.backend=minatar``).
"""

from envs.minatar_torch.vector import GAMES, TorchMinAtarVectorEnv, check_device

__all__ = ["GAMES", "TorchMinAtarVectorEnv", "check_device"]
