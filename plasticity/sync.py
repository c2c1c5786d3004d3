"""One switch for the sync-free code paths: the branches written for GPUs, taken on any device.

On a GPU, code that reads a value on the host (``.item()``, ``nonzero``, a boolean index) makes the CPU wait for
the device, so every device-dependent branch of this project has a sync-free form (fixed shapes, masks) used on
CUDA, and a form with cheap host reads used on the CPU. ``PLASTICITY_SYNC_FREE=1`` (read once, by each object's
constructor) makes every such branch take its GPU form on the CPU too, so the GPU paths are tested without a GPU
(tests/conftest.py ``gpu_path`` fixture). ``envs.minatar_torch`` reads the same variable (it does not import this
package).
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "PLASTICITY_SYNC_FREE"


def forced() -> bool:
    """Whether ``PLASTICITY_SYNC_FREE`` asks for the sync-free paths on every device."""
    return os.environ.get(ENV_VAR, "").strip() not in ("", "0", "false", "False")


def sync_free(device: str | torch.device) -> bool:
    """Take the sync-free (GPU) form of a device-dependent branch on ``device``: any non-CPU device, or forced."""
    return torch.device(device).type != "cpu" or forced()
