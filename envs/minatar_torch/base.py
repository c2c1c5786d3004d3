"""The interface of a MinAtar game on torch tensors: N copies of its state, stepped together on any device.

A game never draws random numbers itself. Each step it receives a float tensor ``u`` of shape ``(N, D)`` of
independent uniform draws in ``[0, 1)`` and uses them where the reference (``minatar`` 1.0.15) calls its
``RandomState``: ``rand() < p`` becomes ``u < p`` and ``randint(low, high)`` becomes
``low + floor(u · (high − low))``. The draws a game uses are declared as named groups, in the reference's
call order (:attr:`TorchGame.step_draws` for ``act``, :attr:`TorchGame.reset_draws` for ``reset``), so a test
harness that records the reference's calls can feed the very same numbers (``tests/minatar_oracle.py``); a
group the reference does not draw in a step (no spawn this step) is simply ignored by the game.

State is a fixed set of tensors (:attr:`TorchGame.state_names`), each with the batch as its first dimension;
``reset(mask, u)`` starts new episodes where ``mask`` is true by computing a fresh state for every env and
selecting it with ``torch.where`` — fixed shapes, no host synchronization, no loop over envs.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import Tensor


def restore_generator(device: torch.device, state: Tensor, what: str) -> torch.Generator:
    """A generator on ``device`` with ``state``; a state saved on another kind of device (a CUDA Philox state
    opened on the CPU, or the reverse) cannot be restored: the generator is seeded from the saved state's bytes
    instead (deterministic) and a one-line warning names the stream."""
    generator = torch.Generator(device=device)
    try:
        generator.set_state(state)
    except (RuntimeError, ValueError):
        seed = int.from_bytes(bytes(state.to(torch.uint8).flatten()[:8].tolist()), "little") or 1
        generator.manual_seed(seed)
        warnings.warn(f"{what}: its random generator was saved on another kind of device and is reseeded on "
                      f"{device} (the run continues, not bit for bit)", stacklevel=2)
    return generator


SYNC_FREE_VAR = "PLASTICITY_SYNC_FREE"  # plasticity.sync's switch (envs does not import plasticity)


def sync_free(device: str | torch.device) -> bool:
    """Take the sync-free (GPU) form of a device-dependent branch: on any non-CPU device, or when
    ``PLASTICITY_SYNC_FREE=1`` forces it (read by constructors; plasticity/sync.py)."""
    return torch.device(device).type != "cpu" or os.environ.get(SYNC_FREE_VAR, "").strip() not in (
        "", "0", "false", "False")

# MinAtar's action indices: ['n', 'l', 'u', 'r', 'd', 'f']
NOOP, LEFT, UP, RIGHT, DOWN, FIRE = range(6)
SIZE = 10
CELLS = SIZE * SIZE
N_CHANNELS = 10  # every game renders into a 10-channel observation (channels C..9 stay zero)


def randint(u: Tensor, low: int, high: int) -> Tensor:
    """``RandomState.randint(low, high)`` from a uniform draw: ``low + floor(u · (high − low))``."""
    return low + (u * (high - low)).long().clamp_(max=high - low - 1)


class Canvas:
    """A fresh ``(N, 10, 10, 10)`` bool observation drawn by scattering ``True`` at ``(y, x, channel)``.

    :meth:`put` collects cell indices; :meth:`finish` writes them all with one ``index_fill_``. Entities that are
    not alive are sent to one extra cell past the end of the buffer, so the shapes stay fixed whatever is alive.
    Grids (bricks, aliens, bullets) are row bitmasks: row ``y`` of a ``(N, 10)`` integer tensor holds column ``x``
    in bit ``x``.
    """

    def __init__(self, flat: Tensor, num_envs: int, base: Tensor, bits: Tensor,
                 channel_map: tuple[list[int], Tensor] | None = None):
        self.flat = flat
        self.obs = self.flat[:-1].view(num_envs, SIZE, SIZE, N_CHANNELS)
        self._trash = num_envs * CELLS * N_CHANNELS
        self._base = base  # (N,) offset of each env's observation in the flat buffer
        self._bits = bits  # (1024, 10) bool: the columns set in a 10-bit row mask
        self._map = channel_map  # game channel → observation channel (a fused channel permutation), or None
        self._indices: list[Tensor] = []

    def _channel(self, channel: int | Tensor) -> int | Tensor:
        if self._map is None:
            return channel
        return self._map[0][channel] if isinstance(channel, int) else self._map[1][channel]

    def put(self, y: Tensor, x: Tensor, channel: int | Tensor, alive: Tensor | None = None) -> None:
        base = self._base if y.dim() == 1 else self._base[:, None]
        index = base + (y * SIZE + x) * N_CHANNELS + self._channel(channel)
        if alive is not None:
            index = torch.where(alive, index, self._trash)
        self._indices.append(index.reshape(-1))

    def rows(self, channel: int, rows: Tensor) -> None:
        """``obs[..., channel]`` = the grid whose row ``y`` is the bitmask ``rows[:, y]``."""
        grid = torch.index_select(self._bits, 0, rows.reshape(-1)).view(rows.shape[0], SIZE, SIZE)
        self.obs[..., self._channel(channel)] = grid

    def row(self, channel: int, y: int, values: Tensor) -> None:
        """``obs[:, y, :, channel] = values`` for an ``(N, 10)`` bool tensor."""
        self.obs[:, y, :, self._channel(channel)] = values

    def finish(self) -> Tensor:
        for index in self._indices:
            self.flat.index_fill_(0, index, True)
        return self.obs


def _use_count(t: Tensor) -> int | None:
    counter = getattr(torch._C, "_storage_Use_Count", None)
    return None if counter is None else counter(t.untyped_storage()._cdata)


class CanvasPool:
    """Observation buffers for a CPU env, reused once nobody else holds a tensor of them.

    A fresh 2 MB buffer per observation (2048 envs) costs page faults on every step on the CPU (glibc maps such
    blocks anew); a buffer is reused only when its storage is referenced by the pool alone (torch's storage use
    count), so an observation handed out is never overwritten while anyone keeps it. CUDA allocations come from
    torch's caching allocator and need no pool.
    """

    def __init__(self, size: int, device: torch.device, keep: int = 6):
        self.size, self.device, self.keep = size, device, keep
        self.buffers: list[Tensor] = []
        probe = torch.zeros(1)
        self._alone = _use_count(probe)
        self.enabled = not sync_free(device) and self._alone is not None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "buffers": []}  # a cache: not part of an env's state

    def take(self, zero: bool = True) -> Tensor:
        if self.enabled:
            for flat in self.buffers:
                if _use_count(flat) == self._alone:
                    return flat.zero_() if zero else flat
        flat = torch.zeros(self.size, dtype=torch.bool, device=self.device)
        if self.enabled and len(self.buffers) < self.keep:
            self.buffers.append(flat)
        return flat


def row_bits(device: torch.device) -> Tensor:
    """``(1024, 10)`` bool: bit ``x`` of every 10-bit number."""
    return (torch.arange(1024, device=device).unsqueeze(1) >> torch.arange(SIZE, device=device)) & 1 == 1


class TorchGame:
    """N copies of one MinAtar game (see the module docstring)."""

    name: str
    channels: int
    step_draws: dict[str, int] = {}
    reset_draws: dict[str, int] = {}
    state_names: tuple[str, ...] = ()
    # How many distinct first observations an episode can have (``None``: too many, they are rendered): a reset on
    # the CPU copies the cached one instead of rendering every env again.
    initial_variants: int | None = 1

    def __init__(self, num_envs: int, ramping: bool = True, device: str | torch.device = "cpu"):
        self.num_envs = int(num_envs)
        self.ramping = bool(ramping)
        self.device = torch.device(device)
        self._base = torch.arange(self.num_envs, device=self.device) * (CELLS * N_CHANNELS)
        self._bits = row_bits(self.device)
        self._pool = CanvasPool(self.num_envs * CELLS * N_CHANNELS + 1, self.device)
        self._channel_map: tuple[list[int], Tensor] | None = None
        for name, value in {**self.allocate(), **self.initial(self.zero_draws(self.reset_draw_count))}.items():
            setattr(self, name, value.clone())

    def zero_draws(self, columns: int) -> Tensor:
        return torch.zeros(self.num_envs, max(1, columns), device=self.device)

    @classmethod
    def draw_count(cls, groups: dict[str, int]) -> int:
        return sum(groups.values())

    @property
    def step_draw_count(self) -> int:
        return self.draw_count(self.step_draws)

    @property
    def reset_draw_count(self) -> int:
        return self.draw_count(self.reset_draws)

    # -- to implement ---------------------------------------------------------------------------------------------
    def initial(self, u: Tensor) -> dict[str, Tensor]:
        """A fresh episode's state for every env, from the reset draws ``u`` (``(N, reset_draw_count)``): the state
        tensors a reset rewrites (constant ones may be cached: they are only read)."""
        raise NotImplementedError

    def allocate(self) -> dict[str, Tensor]:
        """State tensors a reset does not need to rewrite (e.g. the fields of an emptied entity list)."""
        return {}

    def act(self, actions: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        """Step every env with its executed action; ``u`` holds the step draws. Returns (reward, terminal)."""
        raise NotImplementedError

    def draw(self, canvas: Canvas) -> None:
        """Draw every env's observation (channels ``0..channels-1``) on ``canvas``."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------------------
    def reset(self, mask: Tensor, u: Tensor) -> None:
        """Start new episodes in the envs where ``mask`` is true (``u``: reset draws for every env)."""
        for name, fresh in self.initial(u).items():
            current = getattr(self, name)
            select = mask.view(-1, *([1] * (fresh.dim() - 1)))
            setattr(self, name, torch.where(select, fresh, current))

    def initial_variant(self, u: Tensor) -> Tensor:
        """Which of the :attr:`initial_variants` first observations a reset with draws ``u`` gives."""
        return torch.zeros(u.shape[0], dtype=torch.long, device=self.device)

    def variant_draws(self) -> Tensor:
        """Reset draws giving each of the first observations, in order (``(variants, reset_draw_count)``)."""
        return torch.zeros(self.initial_variants or 1, max(1, self.reset_draw_count), device=self.device)

    def initial_observations(self) -> Tensor | None:
        """The ``(variants, 10, 10, 10)`` first observations under the current channel map (cached), or ``None``."""
        if self.initial_variants is None:
            return None
        key = None if self._channel_map is None else tuple(self._channel_map[0])
        cache = self.__dict__.setdefault("_initial_cache", {})
        if key not in cache:
            fresh = type(self)(self.initial_variants, self.ramping, self.device)
            fresh.set_channel_map(None if key is None else list(key))
            fresh.reset(torch.ones(self.initial_variants, dtype=torch.bool, device=self.device), self.variant_draws())
            cache[key] = fresh.render().clone()
        return cache[key]

    def render_after_reset(self, before: Tensor, ended: Tensor, u: Tensor) -> Tensor:
        """The observations after resetting ``ended`` with draws ``u``, given those ``before`` (CPU): a copy with the
        ended envs' cached first observations, or a full rendering where first observations vary too much."""
        first = self.initial_observations()
        if first is None:
            return self.render()
        flat = self._pool.take(zero=False)
        obs = flat[:-1].view_as(before)
        obs.copy_(before)
        rows = ended.nonzero().squeeze(1)
        obs[rows] = first[self.initial_variant(u[rows])]
        return obs

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_initial_cache"}

    def render(self) -> Tensor:
        canvas = Canvas(self._pool.take(), self.num_envs, self._base, self._bits, self._channel_map)
        self.draw(canvas)
        return canvas.finish()

    def set_channel_map(self, mapping: list[int] | None) -> None:
        """Render game channel ``c`` at observation channel ``mapping[c]`` (``None``: unchanged) — a channel
        permutation fused into rendering, so it costs nothing per step."""
        if mapping is None or list(mapping) == list(range(N_CHANNELS)):
            self._channel_map = None
        else:
            self._channel_map = (list(mapping), torch.as_tensor(mapping, device=self.device))

    def state_dict(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).clone() for name in self.state_names}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in self.state_names:
            setattr(self, name, state[name].to(self.device).clone())

    def full(self, value: int | bool, *shape: int, dtype: torch.dtype = torch.long) -> Tensor:
        return torch.full((self.num_envs, *shape), value, dtype=dtype, device=self.device)
