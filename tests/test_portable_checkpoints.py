"""Checkpoints written on one device open on another: the env pickled inside a checkpoint is relocated with it,
generator states of another kind of device are reseeded with a warning, and CUDA random states are restored only
for the GPUs that are there (tested on CPU by faking the CUDA parts)."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from agents.algorithms.vec_env import load_env
from agents.run.checkpoint import rng_state, set_rng_state
from envs.minatar_torch import TorchMinAtarVectorEnv


def _as_if_written_on_cuda(env: TorchMinAtarVectorEnv) -> bytes:
    """The env's pickle with every ``torch.device`` attribute saying ``cuda:0`` (its tensors stay where they are)."""
    cuda = torch.device("cuda", 0)
    saved = env.device, env.game.device
    env.device = env.game.device = cuda
    try:
        return pickle.dumps(env)
    finally:
        env.device, env.game.device = saved


def test_an_env_pickled_on_cuda_opens_on_the_cpu_and_continues_exactly():
    env = TorchMinAtarVectorEnv("space_invaders", 4, max_episode_steps=30)
    env.reset(seed=2)
    actions = np.random.default_rng(0).integers(0, 6, (60, 4))
    for a in actions[:20]:
        env.step(a)
    data = _as_if_written_on_cuda(env)
    assert b"cuda" in data
    moved = load_env(data, "cpu")
    assert moved.device == torch.device("cpu") and moved.game.device == torch.device("cpu")
    for a in actions[20:]:
        for x, y in zip(env.step(a)[:4], moved.step(a)[:4], strict=True):
            assert torch.equal(x, y)
    with pytest.raises(Exception, match=r"cuda|CUDA"):  # what plain pickle did: back to the GPU it was written on
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
        pickle.loads(data).reset(seed=0)


def test_a_generator_state_of_another_kind_of_device_is_reseeded_with_a_one_line_warning():
    env = TorchMinAtarVectorEnv("breakout", 2)
    env.reset(seed=0)
    state = env.__getstate__()
    state["generator"] = torch.arange(16, dtype=torch.uint8)  # a CUDA Philox state's size, not the CPU's
    clone = TorchMinAtarVectorEnv.__new__(TorchMinAtarVectorEnv)
    with pytest.warns(UserWarning, match="MinAtar breakout: its random generator was saved on another kind of "
                                         "device and is reseeded on cpu") as record:
        clone.__setstate__(dict(state))
    assert "\n" not in str(record[0].message)
    again = TorchMinAtarVectorEnv.__new__(TorchMinAtarVectorEnv)
    with pytest.warns(UserWarning):
        again.__setstate__(dict(state))
    assert torch.equal(clone.generator.get_state(), again.generator.get_state())  # deterministic reseed


class _Model:
    class action_space:  # the attribute SB3 models have
        np_random = np.random.default_rng(0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="fakes a checkpoint from a GPU machine on a CPU one")
def test_cuda_random_states_of_missing_gpus_are_named_and_the_others_restored():
    state = rng_state(_Model)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    state["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 2  # written on a machine with two GPUs
    torch.rand(5), np.random.rand(5), random.random()
    with pytest.warns(UserWarning, match=r"checkpoint written with 2 GPU\(s\), resumed with 0: the torch random "
                                         r"stream\(s\) of cuda:0\.\.cuda:1 could not be restored") as record:
        set_rng_state(_Model, state)
    assert "\n" not in str(record[0].message)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]
