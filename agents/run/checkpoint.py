"""Checkpoints that resume a run exactly, written atomically at safe points.

**When.** At a rollout start (right after a training phase, so no optimization is half done): every
``checkpoint.every`` env steps, after every task switch (at the next rollout start), when a preemption signal
arrived (SIGTERM, SIGUSR1, SIGUSR2: checkpoint, mark the run ``preempted``, then hand over to the previous
handler — submitit's requeue — or stop after SIGTERM), and at the end. The last ``keep`` are kept.

**What.** ``checkpoints/step_<N>.pt`` (``torch.save``, written to a temp file, fsynced, renamed) holds the
policy (incl. DQN's target network) and the number of injected heads, the optimizer state (moments, per-entry
steps, regularizer state), the unit method's state (CBP utilities, ages, accumulators, generator), the SB3
counters and last observations, DQN's replay buffer (``checkpoint.replay_buffer``: its filled part, boolean
observations bit-packed — ≈ 25 MB for a full 100k MinAtar buffer), the env — the whole curriculum object
pickled: position, schedule, transforms, every game's state and random generator — and the episode
counters, the torch/numpy/python/action-space random states, the SB3 logger's pending values, the callbacks'
state (metric windows, probe buffer, initial parameters, …) and the byte size of every log file.

**Integrity.** Next to each checkpoint, ``step_<N>.pt.sha256`` holds its SHA-256, written before the checkpoint
is renamed into place (so a ``.pt`` always has its digest). A resume takes the newest checkpoint whose bytes
match its digest; a truncated, empty or altered one is set aside as ``step_<N>.pt.damaged`` with a line
saying which checkpoint was used instead. The checkpoint also holds the SHA-256 of each log's first ``size``
bytes: a log cut, deleted or edited inside that part is refused at resume (one line, exit 2) rather than
continued with rows glued to a cut one.

**Resume.** Everything is built as for a fresh run, then restored from the latest intact checkpoint; log files
are truncated back to their size at the checkpoint (rows written after it are produced again, identically) and
TensorBoard purges the events after the checkpoint step. A run resumed from its ``final`` checkpoint (killed
after it, or its status.json lost) only writes ``final.zip`` and its status: nothing is trained or logged again.

On CPU with ``deterministic=true`` a run killed at
any point and resumed ends with the same parameters and the same log rows as an uninterrupted run (tested;
the wall-clock columns ``time_s`` and ``sps`` excepted). Not exact: ``env.vectorization=subproc`` (worker
processes cannot be pickled; the curriculum restarts its current visit's envs with seeds derived from the
checkpoint step) and ALE (its C++ emulator state is not saved; same re-seeding rule: the visit's envs are reset
with seeds derived from the run seed, the visit and the global step, so the episodes in flight restart).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.run.layout import CHECKPOINTS as CHECKPOINT_DIR
from agents.run.layout import LOG_FILES
from agents.run.settings import CheckpointConfig

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2") if hasattr(signal, name))
STOPPING = {signal.SIGTERM: "preempted", signal.SIGINT: "interrupted"}  # signals that stop the run: its status


def checkpoint_paths(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    return sorted(folder.glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1])) if folder.exists() else []


def rng_state(model: Any) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
             "action_space": model.action_space.np_random.bit_generator.state}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(model: Any, state: dict[str, Any]) -> None:
    """Restore the random states; CUDA's are restored only where the GPUs match the checkpoint's (the others
    start from their current state, named in a one-line warning)."""
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    model.action_space.np_random.bit_generator.state = state["action_space"]
    saved = state.get("cuda")
    if not saved:
        return
    here = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for index in range(min(here, len(saved))):
        torch.cuda.set_rng_state(saved[index].cpu(), index)
    if here != len(saved):
        lost = f"cuda:{here}..cuda:{len(saved) - 1}" if len(saved) > here + 1 else f"cuda:{here}"
        warnings.warn(f"checkpoint written with {len(saved)} GPU(s), resumed with {here}: the torch random stream(s) "
                      f"of {lost if here < len(saved) else 'the new GPUs'} could not be restored (CPU, numpy, "
                      "python, action-space and env streams were)", stacklevel=2)


def capture(run: Any, reason: str, replay_buffer: bool = True) -> dict[str, Any]:
    """Everything needed to continue ``run`` (an ``agents.training.runner.Run``) exactly."""
    model = run.model
    logger = model.logger
    return {
        "version": 1, "step": int(model.num_timesteps), "reason": reason,
        "policy": model.policy.state_dict(), "injections": int(getattr(model.policy, "injections", 0)),
        "optimizer": model.policy.optimizer.state_dict(),
        "algorithm": model.algorithm_state(),
        "replay_buffer": model.replay_buffer.state_dict()
        if replay_buffer and getattr(model, "replay_buffer", None) is not None else None,
        "unit_method": run.method.unit_method.state_dict() if run.method.unit_method is not None else None,
        "logger": {"name_to_value": dict(logger.name_to_value), "name_to_count": dict(logger.name_to_count),
                   "name_to_excluded": dict(logger.name_to_excluded)},
        "rng": rng_state(model),
        "env": run.env.state_dict(),
        "callbacks": {name: cb.state_dict() for name, cb in run.stateful_callbacks().items()},
        "logs": {name: (run.run_dir / name).stat().st_size if (run.run_dir / name).exists() else 0
                 for name in LOG_FILES},
        "log_digests": {name: _digest(run.run_dir / name) for name in LOG_FILES if (run.run_dir / name).exists()},
    }


def _digest(path: Path, size: int | None = None) -> str:
    """SHA-256 of ``path``'s first ``size`` bytes (all of it by default)."""
    h = hashlib.sha256()
    remaining = path.stat().st_size if size is None else size
    with open(path, "rb") as f:
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def damage(path: Path) -> str | None:
    """Why checkpoint ``path`` cannot be trusted (its bytes do not match its digest), or None. A checkpoint
    without a digest (written before digests existed) is trusted if ``torch.load`` reads it."""
    try:
        expected = digest_path(path).read_text().strip()
    except FileNotFoundError:
        try:
            torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            return f"unreadable: {type(err).__name__}"
        return None
    if path.stat().st_size == 0:
        return "empty"
    if _digest(path) != expected:
        return "its bytes do not match its SHA-256 (cut or altered)"
    return None


def intact_checkpoint(run_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint that passes :func:`damage`, and the damaged newer ones (set aside as ``.damaged``)."""
    damaged = []
    for path in reversed(checkpoint_paths(run_dir)):
        why = damage(path)
        if why is None:
            return path, damaged
        damaged.append((path, why))
        os.replace(path, path.with_name(path.name + ".damaged"))
        digest_path(path).unlink(missing_ok=True)
    return None, damaged


def check_logs(run_dir: Path, state: dict[str, Any], checkpoint: Path) -> None:
    """Refuse logs that were cut, deleted or edited inside the part ``checkpoint`` covers."""
    from agents.run.status import RunStateError
    for name, size in state["logs"].items():
        log = run_dir / name
        expected = state.get("log_digests", {}).get(name)
        if size == 0:
            continue
        actual = log.stat().st_size if log.exists() else None
        if actual is None or actual < size or (expected is not None and _digest(log, size) != expected):
            found = "it is missing" if actual is None else f"{actual:,} bytes now" if actual < size else \
                "its content differs"
            raise RunStateError(f"{log} was changed inside the {size:,} bytes that checkpoint {checkpoint.name} "
                                f"covers ({found}): restore the file, or delete {run_dir} to start over")


def save(run: Any, reason: str, keep: int = 3, replay_buffer: bool = True) -> Path:
    folder = run.run_dir / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    state = capture(run, reason, replay_buffer)
    path = folder / f"step_{state['step']}.pt"
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        digest = _digest(tmp)
        _write_atomic(digest_path(path), lambda f: f.write(f"{digest}\n".encode()))  # before the .pt appears
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a file-size limit (ulimit -f), a quota: one line, nothing half-written
        from agents.run.status import RunStateError
        for partial in (tmp, digest_path(path).with_name(digest_path(path).name + ".tmp")):
            partial.unlink(missing_ok=True)
        digest_path(path).unlink(missing_ok=True)
        raise RunStateError(f"cannot write the checkpoint {path}: {err.strerror or type(err).__name__}; free space "
                            "or raise the file-size limit, then re-run the command: it resumes from the last "
                            "checkpoint") from None
    for old in checkpoint_paths(run.run_dir)[:-keep]:
        old.unlink()
        digest_path(old).unlink(missing_ok=True)
    return path


def restore(run: Any, path: Path) -> dict[str, Any]:
    """Load ``path`` into a freshly prepared ``run``; returns the checkpoint's metadata."""
    state = torch.load(path, map_location=run.model.device, weights_only=False)
    if path.resolve().parent.parent == run.run_dir.resolve():  # the run's own logs (not a state copied elsewhere)
        check_logs(run.run_dir, state, path)
    model = run.model
    for _ in range(state["injections"] - getattr(model.policy, "injections", 0)):
        model.inject_heads()
    model.policy.load_state_dict(state["policy"])
    model.policy.optimizer.load_state_dict(state["optimizer"])
    model.load_algorithm_state(state["algorithm"])
    if state["replay_buffer"] is not None:
        model.replay_buffer.load_state_dict(state["replay_buffer"])
    if hasattr(model, "_create_aliases"):  # DQN: q_net / q_net_target aliases of the policy's modules
        model._create_aliases()
    if state["unit_method"] is not None:
        run.method.unit_method.load_state_dict(state["unit_method"])
    logger = model.logger
    logger.name_to_value.update(state["logger"]["name_to_value"])
    logger.name_to_count.update(state["logger"]["name_to_count"])
    logger.name_to_excluded.update(state["logger"]["name_to_excluded"])
    reseeded = run.env.load_state_dict(state["env"])
    if reseeded is not None:  # an env that could not be saved restarted its episodes (the re-seeding rule)
        model._last_obs = reseeded
        model._last_episode_starts = torch.ones(run.env.num_envs, dtype=torch.bool, device=model.device)
    for name, cb in run.stateful_callbacks().items():
        cb.load_state_dict(state["callbacks"][name])
    for name, size in state["logs"].items():
        log = run.run_dir / name
        if log.exists() and log.stat().st_size > size:
            os.truncate(log, size)  # rows after the checkpoint will be written again
    set_rng_state(model, state["rng"])
    return {"step": state["step"], "reason": state["reason"]}


class Checkpointer(BaseCallback):
    """Checkpoints at rollout starts (see the module docstring)."""

    def __init__(self, run: Any, config: CheckpointConfig | None = None):
        super().__init__()
        config = config or CheckpointConfig()
        self.run = run
        self.every, self.at_switch, self.keep = config.every, config.at_switch, config.keep
        self.replay_buffer = config.replay_buffer
        self._last = 0
        self._switched = False
        self.signal: int | None = None
        self.stop = False
        self.preempted = False
        self.stopped_as: str | None = None  # "preempted" | "interrupted" once a stopping signal was handled
        self.last_step: int | None = None  # env step of the last checkpoint written
        self._previous: dict[int, Any] = {}

    def on_switch(self, old: Any, new: Any, step: int) -> None:
        self._switched = True

    def _on_rollout_start(self) -> None:
        due = (self.every and self.num_timesteps - self._last >= self.every) or (self.at_switch and self._switched)
        if self.signal is None and not due:
            return
        reason = signal.Signals(self.signal).name if self.signal is not None else "switch" if self._switched \
            else "periodic"
        self.save(reason)
        if self.signal is not None:
            self._hand_over(self.signal)

    def save(self, reason: str) -> Path:
        from agents.run.status import write_status
        if self.run.guard is not None:
            self.run.guard.check()  # never checkpoint a non-finite state (a deferred check reads it here)
        self._last = self.model.num_timesteps
        self._switched = False
        path = save(self.run, reason, self.keep, self.replay_buffer)
        self.last_step = int(self.model.num_timesteps)
        if reason != "final":
            write_status(self.run.run_dir, "running", step=int(self.model.num_timesteps), checkpoint=path.name)
        return path

    def _on_step(self) -> bool:
        return not self.stop

    # -- preemption signals -----------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        for sig in SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread (some launchers): no handler
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.signal == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, from the last checkpoint
        self.signal = signum  # acted on at the next rollout start, a consistent point

    def _hand_over(self, signum: int) -> None:
        """After the checkpoint: let the previous handler act (submitit requeues), or stop after SIGTERM."""
        from agents.run.status import write_status
        self.signal = None
        previous = self._previous.get(signum)
        if signum == signal.SIGINT:
            previous = None  # Python's KeyboardInterrupt handler: we stop cleanly instead
        elif not callable(previous) and signum != signal.SIGTERM:
            return  # a SIGUSR nobody else handles: checkpoint and go on
        self.preempted = True
        self.stopped_as = STOPPING.get(signum, "preempted")
        write_status(self.run.run_dir, self.stopped_as, step=int(self.model.num_timesteps),
                     reason=f"{signal.Signals(signum).name}: checkpoint written, resume by re-running the command")
        self.stop = True
        if callable(previous):  # e.g. submitit's handler, which requeues the job
            self.restore_signal_handlers()
            previous(signum, None)

    def state_dict(self) -> dict[str, Any]:
        return {"last": self._last, "switched": self._switched}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = state

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps
        resume = getattr(self, "_resume", None)
        if resume is not None:
            self._last, self._switched = resume["last"], resume["switched"]
