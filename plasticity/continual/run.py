"""The continual training loop: one model and one method through a stream of tasks, scored per task."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from plasticity.continual.methods import build
from plasticity.metrics.dormant import dormant_mask


@dataclass
class TaskScores:
    """Per task: ``score`` (accuracy on the task's examples at its end for classification; mean online squared
    error over the task for regression) and ``dormant`` (fraction of hidden ReLU units with τ=0 dormancy on the
    task's last batch)."""

    method: str
    score: list[float] = field(default_factory=list)
    dormant: list[float] = field(default_factory=list)

    def mean(self, first: int, last: int) -> float:
        values = self.score[first:last]
        return sum(values) / len(values)


def mlp(in_features: int, out_features: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_features if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, out_features))


def _dormant_fraction(model: nn.Sequential, x: Tensor) -> float:
    dead = total = 0
    with torch.no_grad():
        h = x
        for module in model:
            h = module(h)
            if isinstance(module, nn.ReLU):
                mask = dormant_mask(h, 0.0)
                dead, total = dead + int(mask.sum()), total + mask.numel()
    return dead / max(total, 1)


def run_stream(stream, method: str, *, tasks: int, steps_per_task: int | None = None, batch_size: int = 16,
               width: int = 64, depth: int = 2, lr: float = 1e-3, seed: int = 0, **options) -> TaskScores:
    """Train ``mlp(width, depth)`` with ``method`` on ``tasks`` consecutive tasks of ``stream``.

    ``stream`` is a :mod:`plasticity.continual.tasks` object (regression if it has one output). The
    network and the method are built once; nothing is reset between tasks (that is the point).
    """
    torch.manual_seed(seed)
    model = mlp(stream.in_features, stream.out_features, width, depth)
    regression = stream.out_features == 1
    head = str(len(model) - 1)
    optimizer, _unit = build(method, model, lr, head=head, seed=seed, **options)
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    scores = TaskScores(method)
    for t in range(tasks):
        errors = []
        for x, y in stream.task(t, steps_per_task, batch_size):
            out = model(x)
            loss = loss_fn(out, y)
            errors.append(loss.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if regression:
            scores.score.append(float(torch.stack(errors).mean()))
            scores.dormant.append(_dormant_fraction(model, x))
        else:
            tx, ty = stream.current
            with torch.no_grad():
                scores.score.append(float((model(tx).argmax(1) == ty).float().mean()))
            scores.dormant.append(_dormant_fraction(model, tx))
    return scores
