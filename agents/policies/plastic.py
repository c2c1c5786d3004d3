"""SB3 policies with what plasticity methods need from an agent, and SB3's arithmetic with less overhead.

* The optimizer is rebuilt from :func:`plasticity.param_groups`, so the output heads (``action_net`` and
  ``value_net`` for PPO, the last Q layer for DQN) are in a group marked ``regularize=False`` (unless
  ``regularize_heads=True``): SB3 builds ``optimizer_class(self.parameters())``, which leaves a regularizing
  optimizer no way to tell heads from hidden layers.
* ``trained_module`` (what the optimizer trains), ``head_names``, ``example_forward`` (one training-style
  forward pass, for tracing the network), ``outputs`` (the network's outputs as one tensor, for metrics: PPO's
  action logits then value, DQN's Q-values; the first ``n_actions`` columns rank actions), ``fresh_policy``
  (a new draw of SB3's own initialization, for resets)
  and ``inject_heads`` (plasticity injection, recorded in ``injections`` so that a saved model loads back with
  the same structure).
* DQN: ``sync_target`` copies the online network into the target network; it runs after every switch-time
  change of the parameters (reset, shrink & perturb, injection), so targets never come from a network with
  another structure or a stale initialization. Unit methods (CBP, ReDo) leave the target alone: it picks the
  new units up at its next scheduled copy.
* Speed, with SB3's numbers bit for bit (tests/test_speedups.py): training-mode switches and device lookups
  cached; PPO with discrete actions computes its samples, log-probabilities and entropy with
  :mod:`agents.policies.categorical` instead of building a torch ``Categorical`` per action and per minibatch.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from agents.policies import categorical, gaussian
from plasticity import param_groups
from plasticity.injection import InjectedHead


def last_linear_name(module: nn.Module) -> str:
    names = [name for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(module).__name__} has no Linear layer to treat as its output head")
    return names[-1]


def _inject(module: nn.Module, name: str, freeze_old: bool) -> InjectedHead:
    *path, attr = name.split(".")
    owner = module
    for part in path:
        owner = getattr(owner, part)
    old = getattr(owner, attr)
    fresh = copy.deepcopy(_innermost(old))
    for m in fresh.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    head = InjectedHead(old, fresh, freeze_old=freeze_old)
    setattr(owner, attr, head)
    return head


def _innermost(head: nn.Module) -> nn.Module:
    while isinstance(head, InjectedHead):
        head = head.new
    return head


INITS = ("orthogonal", "lecun")  # SB3's default; LeCun uniform, Dohare et al.'s PPO


@torch.no_grad()
def lecun_uniform_(module: nn.Module) -> None:
    """Every ``nn.Linear`` of ``module``: weights ``U(−√(3/fan_in), √(3/fan_in))``, biases 0 (Dohare et al.'s
    ``lecun_init``, loss-of-plasticity ``lop/utils/miscellaneous.py``); other layers keep their init."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            bound = math.sqrt(3.0 / m.in_features)
            m.weight.uniform_(-bound, bound)
            if m.bias is not None:
                m.bias.zero_()


class _NoOptimizer:
    """Stands in for the optimizer SB3's ``_build`` makes (never used: the policy builds its own right after)."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass


class _PlasticPolicy:
    """Mixin for SB3 policies (see the module docstring)."""

    regularize_heads: bool
    injections: int
    freeze_injected: bool
    optimizer: Any

    _mode: bool | None = None  # the mode the last set_training_mode applied; None: unknown

    def _init_plastic(self, regularize_heads: bool, injections: int, freeze_injected: bool,
                      bias: bool = True, init: str = "orthogonal") -> None:
        if init not in INITS:
            raise ValueError(f"init={init!r}; valid choices: {', '.join(INITS)}")
        self.init = init
        self.bias = bias
        self.regularize_heads = regularize_heads
        self.injections = injections
        self.freeze_injected = freeze_injected

    _mode_modules: list[nn.Module] | None = None  # what SB3's set_training_mode switches, found once

    # SB3 switches the mode before every update and every action (DQN: twice per env step), and nn.Module.train
    # walks the module tree through nn.Module.__setattr__ each time, a sizeable part of a MinAtar DQN step. The
    # same flags are set here from a list found once (refound after any change of structure); modules that
    # override ``train`` keep SB3's path.
    def set_training_mode(self, mode: bool) -> None:
        if self._mode is mode:
            return
        if self._mode_modules is None:
            modules = self._switched_modules()
            plain = all(type(m).train is nn.Module.train for m in modules if m is not self)
            self._mode_modules = modules if plain else []
        if self._mode_modules:
            for m in self._mode_modules:
                m.__dict__["training"] = mode
        else:
            super().set_training_mode(mode)  # type: ignore[misc]
        self._mode = mode

    # SB3's ``device`` walks the parameters on every action (DQN: every env step); the first parameter is found
    # once (again after a change of structure) and asked for its device, which follows ``.to()``.
    @property
    def device(self) -> torch.device:
        first = self.__dict__.get("_device_param")
        if first is None:
            first = next(iter(self.parameters()), None)  # type: ignore[attr-defined]
            if first is None:
                return torch.device("cpu")
            self.__dict__["_device_param"] = first  # not setattr: that would register it as a parameter
        return first.device

    def _apply(self, *args: Any, **kwargs: Any) -> Any:  # .to(), .cuda(), …: parameters may be new objects
        self.__dict__.pop("_device_param", None)
        return super()._apply(*args, **kwargs)  # type: ignore[misc]

    def _structure_changed(self) -> None:
        self._mode = self._mode_modules = None
        self.__dict__.pop("_device_param", None)

    def _switched_modules(self) -> list[nn.Module]:
        return list(self.modules())  # type: ignore[attr-defined]

    def train(self, mode: bool = True) -> Any:
        self._structure_changed()  # a direct train()/eval(): look again at the next switch
        return super().train(mode)  # type: ignore[misc]

    # agent-specific pieces -----------------------------------------------------------------------------
    def trained_module(self) -> nn.Module:
        return self  # type: ignore[return-value]

    def head_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def example_forward(self, batch: int = 4) -> None:
        raise NotImplementedError

    def sync_target(self) -> None:
        """Make derived copies (DQN's target network) agree with the trained module again."""

    def outputs(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _example_obs(self, batch: int) -> torch.Tensor:
        space = self.observation_space  # type: ignore[attr-defined]
        return torch.as_tensor(space.sample()[None].repeat(batch, 0), device=self.device).float()  # type: ignore

    def fresh_policy(self) -> nn.Module:
        """A new policy of the same class and arguments: SB3's initialization, drawn again."""
        return type(self)(**self._get_constructor_parameters()).to(self.device)  # type: ignore[attr-defined]

    # building ------------------------------------------------------------------------------------------
    def _build_networks(self, build: Any, lr_schedule: Schedule) -> None:
        """SB3's ``_build`` (the networks), whose last line builds an optimizer over every parameter: that one is
        skipped — the optimizer is built once, by :meth:`_rebuild_optimizer`, with the heads in their own group."""
        cls = self.optimizer_class
        self.optimizer_class = _NoOptimizer
        try:
            build(lr_schedule)
        finally:
            self.optimizer_class = cls
        if self.init == "lecun":
            lecun_uniform_(self)  # type: ignore[arg-type]

    def _rebuild_optimizer(self, lr_schedule: Schedule) -> None:
        if not self.bias:  # the AdamO authors' bias-free networks: every Linear layer, heads included
            for module in self.modules():  # type: ignore[attr-defined]
                if isinstance(module, nn.Linear) and module.bias is not None:
                    module.register_parameter("bias", None)
        exclude = () if self.regularize_heads else self.head_names()
        groups = param_groups(self.trained_module(), exclude=exclude)
        self.optimizer = self.optimizer_class(groups, lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore
        for _ in range(self.injections):
            self._inject_structure()

    def _inject_structure(self) -> list[InjectedHead]:
        heads = [_inject(self.trained_module(), name, self.freeze_injected) for name in self.head_names()]
        self.optimizer.add_param_group({"params": [p for h in heads for p in h.new.parameters()],
                                        "regularize": False})
        return heads

    def inject_heads(self) -> None:
        """Plasticity injection on every head (predictions unchanged; see plasticity.injection)."""
        heads = self._inject_structure()
        for head in heads:
            head.to(self.device)  # type: ignore[attr-defined]
        self.injections += 1
        self._structure_changed()  # new modules, in training mode whatever the policy's mode

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.update(regularize_heads=self.regularize_heads, injections=self.injections,
                    freeze_injected=self.freeze_injected, bias=self.bias, init=self.init)
        return data


class PlasticActorCriticPolicy(_PlasticPolicy, ActorCriticPolicy):
    def __init__(self, *args: Any, regularize_heads: bool = False, injections: int = 0,
                 freeze_injected: bool = True, bias: bool = True, init: str = "orthogonal", **kwargs: Any):
        if init == "lecun":
            kwargs["ortho_init"] = False  # SB3's orthogonal init is replaced, not drawn first
        self._init_plastic(regularize_heads, injections, freeze_injected, bias, init)
        super().__init__(*args, **kwargs)

    def head_names(self) -> tuple[str, ...]:
        return ("action_net", "value_net")

    def _latents(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's and the critic's latent codes, as SB3's forward computes them."""
        features = self.extract_features(obs)
        if self.share_features_extractor:
            return self.mlp_extractor(features)
        pi_features, vf_features = features
        return self.mlp_extractor.forward_actor(pi_features), self.mlp_extractor.forward_critic(vf_features)

    # Discrete actions: SB3's forward and evaluate_actions with the arithmetic of agents.policies.categorical
    # instead of a torch Categorical per call (same operations in the same order: bit for bit SB3's, tested).
    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, ...]:
        if type(self.action_dist) is DiagGaussianDistribution:  # Gaussian: the same without the Normal object
            latent_pi, latent_vf = self._latents(obs)
            values = self.value_net(latent_vf)
            mean = self.action_net(latent_pi)
            std = gaussian.scale(mean, self.log_std)
            actions = gaussian.actions(mean, std, deterministic)
            return actions.reshape((-1, *self.action_space.shape)), values, gaussian.log_prob(mean, std, actions)
        if type(self.action_dist) is not CategoricalDistribution:
            return super().forward(obs, deterministic)
        latent_pi, latent_vf = self._latents(obs)
        values = self.value_net(latent_vf)
        log_probs = categorical.normalize(self.action_net(latent_pi))
        actions = categorical.actions(torch.softmax(log_probs, dim=-1), deterministic)
        return actions.reshape((-1, *self.action_space.shape)), values, categorical.log_prob(log_probs, actions)

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if type(self.action_dist) is DiagGaussianDistribution:
            latent_pi, latent_vf = self._latents(obs)
            mean = self.action_net(latent_pi)
            std = gaussian.scale(mean, self.log_std)
            return self.value_net(latent_vf), gaussian.log_prob(mean, std, actions), gaussian.entropy(std)
        if type(self.action_dist) is not CategoricalDistribution:
            return super().evaluate_actions(obs, actions)
        latent_pi, latent_vf = self._latents(obs)
        log_probs = categorical.normalize(self.action_net(latent_pi))
        log_prob = categorical.log_prob(log_probs, actions)
        values = self.value_net(latent_vf)
        return values, log_prob, categorical.entropy(log_probs, torch.softmax(log_probs, dim=-1))

    def example_forward(self, batch: int = 4) -> None:
        obs = self._example_obs(batch)
        shape = (batch,) if type(self.action_dist) is CategoricalDistribution else (batch, *self.action_space.shape)
        self.evaluate_actions(obs, torch.zeros(shape, device=self.device))

    def outputs(self, obs: torch.Tensor) -> torch.Tensor:
        latent_pi, latent_vf = self._latents(obs)
        return torch.cat([self.action_net(latent_pi), self.value_net(latent_vf)], dim=1)

    def _build(self, lr_schedule: Schedule) -> None:
        self._build_networks(super()._build, lr_schedule)
        self._rebuild_optimizer(lr_schedule)


class PlasticDQNPolicy(_PlasticPolicy, DQNPolicy):
    def __init__(self, *args: Any, regularize_heads: bool = False, injections: int = 0,
                 freeze_injected: bool = True, bias: bool = True, init: str = "orthogonal", **kwargs: Any):
        self._init_plastic(regularize_heads, injections, freeze_injected, bias, init)
        super().__init__(*args, **kwargs)

    def trained_module(self) -> nn.Module:
        return self.q_net

    def head_names(self) -> tuple[str, ...]:
        return (self._head_name,)  # found once at build time: injection nests new Linear layers inside it

    def example_forward(self, batch: int = 4) -> None:
        self.q_net(self._example_obs(batch))

    def outputs(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net(obs)

    def sync_target(self) -> None:
        target = copy.deepcopy(self.q_net)
        target.set_training_mode(False)
        target.requires_grad_(False)
        self.q_net_target = target

    def _switched_modules(self) -> list[nn.Module]:
        return [self, *self.q_net.modules()]  # DQNPolicy.set_training_mode: the online network and its own flag

    def _build(self, lr_schedule: Schedule) -> None:
        self._build_networks(super()._build, lr_schedule)
        self._head_name = last_linear_name(self.q_net)
        self._rebuild_optimizer(lr_schedule)
        if self.injections:
            self.sync_target()
