"""Task streams: each yields minibatches ``(x, y)`` for one task after another.

Two families:

* :class:`SlowlyChangingRegression` — Dohare et al.'s bit-flipping problem (Nature 2024, "slowly-changing
  regression"): inputs are ``m`` bits, the first ``f`` of which change slowly (one of them flips at every task
  boundary) and the rest are fresh random bits for every example; the target is a fixed random network of
  linear threshold units (LTUs) with ±1 weights. A task is the stretch between two flips.
* :class:`RelabelledTasks` — a small dataset (e.g. scikit-learn's digits) turned into a sequence of tasks by
  a fresh random pixel permutation (``permute_inputs``) and/or fresh random labels (``random_labels``) per task.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


class SlowlyChangingRegression:
    """Dohare's slowly-changing regression.

    ``x = (s, r, 1)`` with ``s ∈ {0,1}^f`` the slow bits (one random bit of ``s`` flips at each task start) and
    ``r ∈ {0,1}^{m−f}`` fresh per example. Target ``y = Σ_i v_i·LTU_i(x)``, ``LTU_i(x) = 1[w_iᵀx > θ_i]``,
    ``w_i, v_i ∈ {−1, +1}`` uniformly, ``θ_i = (m + 1)·β − S_i`` with ``S_i`` the number of negative entries of
    ``w_i`` and ``β = 0.7`` (Dohare's threshold).

    :param bits: ``m``; :param slow_bits: ``f``; :param hidden: number of LTUs of the target network.
    """

    def __init__(self, bits: int = 20, slow_bits: int = 15, hidden: int = 100, beta: float = 0.7, seed: int = 0):
        if not 0 < slow_bits <= bits:
            raise ValueError(f"slow_bits={slow_bits!r} must be in [1, bits={bits}]")
        self.bits, self.slow_bits = bits, slow_bits
        self.gen = torch.Generator().manual_seed(seed)
        sign = lambda *shape: torch.randint(0, 2, shape, generator=self.gen).float() * 2 - 1  # noqa: E731
        self.w = sign(hidden, bits + 1)
        self.v = sign(hidden)
        self.theta = (bits + 1) * beta - (self.w < 0).sum(dim=1).float()
        self.slow = torch.randint(0, 2, (slow_bits,), generator=self.gen).float()
        self.in_features, self.out_features = bits + 1, 1

    def target(self, x: Tensor) -> Tensor:
        return ((x @ self.w.T > self.theta).float() @ self.v).unsqueeze(1)

    def task(self, index: int, steps: int, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        if index > 0:
            flip = int(torch.randint(0, self.slow_bits, (1,), generator=self.gen))
            self.slow[flip] = 1 - self.slow[flip]
        for _ in range(steps):
            fast = torch.randint(0, 2, (batch_size, self.bits - self.slow_bits), generator=self.gen).float()
            x = torch.cat([self.slow.expand(batch_size, -1), fast, torch.ones(batch_size, 1)], dim=1)
            yield x, self.target(x)


class RelabelledTasks:
    """A fixed dataset as a task sequence: per task, a random subset, pixel permutation and/or label draw.

    :param x: inputs ``(N, D)`` (standardized by the caller); :param y: integer labels ``(N,)``.
    :param samples: examples per task (a random subset, drawn per task); all when ``None``.
    :param epochs: passes over the task's examples (shuffled each pass).
    """

    def __init__(self, x: Tensor, y: Tensor, *, classes: int, samples: int | None = None, epochs: int = 1,
                 permute_inputs: bool = True, random_labels: bool = False, seed: int = 0):
        if not (permute_inputs or random_labels):
            raise ValueError("RelabelledTasks: at least one of permute_inputs, random_labels must be True")
        self.x, self.y = x.float(), y.long()
        self.classes, self.samples, self.epochs = classes, samples, epochs
        self.permute_inputs, self.random_labels = permute_inputs, random_labels
        self.gen = torch.Generator().manual_seed(seed)
        self.in_features, self.out_features = x.shape[1], classes

    def task_data(self) -> tuple[Tensor, Tensor]:
        n = self.x.shape[0]
        idx = torch.randperm(n, generator=self.gen)[: self.samples or n]
        x, y = self.x[idx], self.y[idx]
        if self.permute_inputs:
            x = x[:, torch.randperm(x.shape[1], generator=self.gen)]
        if self.random_labels:
            y = torch.randint(0, self.classes, y.shape, generator=self.gen)
        return x, y

    def task(self, index: int, steps: int | None, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self.task_data()
        self.current = (x, y)
        for _ in range(self.epochs):
            order = torch.randperm(x.shape[0], generator=self.gen)
            for start in range(0, x.shape[0], batch_size):
                b = order[start:start + batch_size]
                yield x[b], y[b]
