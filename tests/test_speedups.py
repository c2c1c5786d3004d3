"""The speed-ups keep SB3's semantics: the same clipped gradients, the same training flags, the same Adam."""

import copy

import pytest
import torch
from torch import nn

from agents.algorithms.grad_clip import clip_grad_norm_


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 1e6])
def test_clip_grad_norm_is_torchs_bit_for_bit(max_norm):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 16), nn.Linear(16, 3))
    ref = copy.deepcopy(net)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        p.grad = torch.randn_like(p) * 3
        q.grad = p.grad.clone()
    net[4].weight.grad = None  # parameters without gradients are skipped, as torch does
    ref[4].weight.grad = None
    ours_total = clip_grad_norm_(net.parameters(), max_norm)
    ref_total = torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
    assert torch.equal(ours_total, ref_total)
    for a, b in zip(net.parameters(), ref.parameters(), strict=True):
        assert (a.grad is None and b.grad is None) or torch.equal(a.grad, b.grad)


def _agent(name: str):
    from agents.algorithms.factory import make_agent
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    env = GymnasiumVecEnv(make_curriculum({"tasks": ["breakout"], "steps_per_task": 10**6}, 2, 0))
    cfg = {"name": name, "n_envs": 2, "learning_rate": 1e-3, "batch_size": 16,
           **({"n_steps": 16, "n_epochs": 1} if name == "ppo" else {"learning_starts": 0, "buffer_size": 100})}
    method = build_method({"name": "adam", "optimizer": "adam"})
    return make_agent(cfg, env, method, 1000, seed=0, device="cpu")


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_cached_training_mode_switch_sets_the_flags_sb3_would(agent):
    model = _agent(agent)
    policy = model.policy
    if agent == "dqn":  # a mode-dependent module: its flag must follow too
        policy.q_net.features_extractor.add_module("drop", nn.Dropout(0.5))
    policy.train(True)  # a direct call: the next switch looks at the (new) modules again
    switched = list(policy.modules()) if agent == "ppo" else [policy, *policy.q_net.modules()]
    for mode in (False, True, False, False, True):
        policy.set_training_mode(mode)
        assert all(m.training is mode for m in switched)
    policy.inject_heads()  # new modules: the next switch reaches them too
    policy.set_training_mode(False)
    assert all(not m.training for m in (policy.modules() if agent == "ppo" else policy.q_net.modules()))


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_agents_get_the_fused_adam_kernel_unless_told_not_to(agent):
    from agents.algorithms.factory import _optimizer_kwargs
    from agents.methods import build_method
    model = _agent(agent)
    assert all(g["fused"] for g in model.policy.optimizer.param_groups)
    from agents.algorithms.settings import DQNConfig, PPOConfig
    method = build_method({"name": "adam", "optimizer": "adam"})
    config = {"ppo": PPOConfig, "dqn": DQNConfig}[agent]
    assert "fused" not in _optimizer_kwargs(config(fused_optimizer=False), method)
    assert _optimizer_kwargs(config(), build_method({"name": "adam", "optimizer": "adam", "fused": False}))[
        "fused"] is False  # an explicit false stays false


def test_fused_and_for_loop_adam_agree_to_float_rounding():
    from plasticity.optim import AdamO
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [AdamO(nets[0].parameters(), lr=1e-3, coef=0.1), AdamO(nets[1].parameters(), lr=1e-3, coef=0.1, fused=True)]
    for _ in range(50):
        x = torch.randn(16, 8)
        for net, opt in zip(nets, opts, strict=True):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused", [False, True])
def test_groups_with_equal_hyper_parameters_share_one_adam_call_and_match_torch(fused, monkeypatch):
    import plasticity.optim.regularized_adam as ra
    from plasticity.optim import RegularizedAdam
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
            for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())

    def groups(net):  # hidden and head share hyper-parameters; the middle layer has its own lr
        return [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 3e-3},
                {"params": net[4].parameters(), "regularize": False}]
    ours = RegularizedAdam(groups(nets[0]), lr=1e-3, fused=fused)
    ref = torch.optim.Adam([{k: v for k, v in g.items() if k != "regularize"} for g in groups(nets[1])], lr=1e-3,
                           fused=fused)
    calls = []
    real_adam = ra.adam
    monkeypatch.setattr(ra, "adam", lambda params, *a, **k: (calls.append(len(params)), real_adam(params, *a, **k)))
    for _ in range(20):
        x = torch.randn(16, 8)
        for net, opt in zip(nets, (ours, ref), strict=True):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    assert calls[:2] == [4, 2]  # groups 1 and 3 (4 tensors) in one call, the lr=3e-3 group in its own
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_cached_device_follows_the_parameters(agent):
    policy = _agent(agent).policy
    assert policy.device == torch.device("cpu")
    policy.to("meta")  # moves every parameter: the device must follow without a new lookup
    assert policy.device == torch.device("meta") == next(policy.parameters()).device


def _minatar_torso():
    import gymnasium as gym

    from agents.policies.networks import MinAtarCNN
    torch.manual_seed(0)
    return MinAtarCNN(gym.spaces.Box(0, 1, (10, 10, 7), dtype=bool))


def _paper_torso(net, obs):
    """The MinAtar paper's order written plainly with ``net``'s modules: the benchmark's vanilla network."""
    from agents.bench.update import paper_order_forward
    return paper_order_forward(net, obs)


@pytest.mark.parametrize("batch", [1, 32, 128, 129, 512])
def test_minatar_network_computes_the_papers_function(batch):
    """Small batches copy the activations (bit for bit the paper's numbers); large ones permute the weight (the
    same sums in another order); gradients agree with the plainly written network either way."""
    net = _minatar_torso()
    obs = (torch.rand(batch, 10, 10, 7) < 0.2).float()
    out, ref = net(obs), _paper_torso(net, obs)
    if batch <= net.features_dim:
        assert torch.equal(out, ref)
    else:
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(out.square().sum(), list(net.parameters()))
    ref_grads = torch.autograd.grad(ref.square().sum(), list(net.parameters()))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_feature_map_linear_keeps_nchw_columns_for_unit_methods():
    """The weight's column c·64 + s belongs to channel c at position s on both paths, and the activations a
    unit method captures at a large training batch are the NCHW feature map."""
    from plasticity.network import ActivationCapture, trace
    net = _minatar_torso()
    obs = (torch.rand(300, 10, 10, 7) < 0.2).float()
    graph = trace(net, lambda: net(obs[:4]))
    (layer,) = [h for h in graph.hidden if h.name == "cnn.0"]
    assert layer.consumers[0].name == "linear.0" and layer.consumers[0].group == 64
    capture = ActivationCapture(graph)
    seen = []
    hook = net.linear[0].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].dim()))
    with torch.no_grad():
        net.linear[0].weight[:, 3 * 64:4 * 64] = 0  # silence channel 3's outgoing weights
    net(obs[:4])
    full = net(obs)
    hook.remove()
    assert seen == [2, 4]  # a small batch flattens the activations; this one takes the permuted-weight path
    with torch.no_grad():
        maps = torch.relu(net.cnn[0](obs.permute(0, 3, 1, 2)))
        maps[:, 3] += 5.0  # … so that channel 3's activations cannot matter, on the permuted-weight path too
        silenced = torch.relu(torch.nn.functional.linear(maps.flatten(1), net.linear[0].weight, net.linear[0].bias))
    torch.testing.assert_close(full, silenced, rtol=1e-5, atol=1e-5)
    expected = torch.relu(net.cnn[0](obs.permute(0, 3, 1, 2))).reshape(300, 16, 64)
    torch.testing.assert_close(capture.activations["cnn.0"], expected)
    capture.remove()


def _ppo_policy():
    """A PPO policy and 16 observations (its 2 envs' first ones, repeated)."""
    model = _agent("ppo")
    return model.policy, torch.as_tensor(model.env.reset()).float().repeat(8, 1, 1, 1)


@pytest.mark.parametrize("deterministic", [False, True])
def test_policy_forward_is_sb3s_bit_for_bit(deterministic):
    """Actions (the same draws from the global generator), values and log-probabilities equal SB3's forward."""
    from stable_baselines3.common.policies import ActorCriticPolicy
    policy, obs = _ppo_policy()
    with torch.no_grad():
        torch.manual_seed(3)
        ours = policy(obs, deterministic=deterministic)
        torch.manual_seed(3)
        ref = ActorCriticPolicy.forward(policy, obs, deterministic=deterministic)
    assert ours[0].shape == ref[0].shape == (16,)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    assert len(set(ours[0].tolist())) > 1 or deterministic  # the draws are not all one action


def test_evaluate_actions_and_its_gradients_are_sb3s_bit_for_bit():
    from stable_baselines3.common.policies import ActorCriticPolicy
    policy, obs = _ppo_policy()
    actions = torch.arange(16).remainder(6).float()
    runs = []
    for evaluate in (policy.evaluate_actions, lambda o, a: ActorCriticPolicy.evaluate_actions(policy, o, a)):
        policy.zero_grad()
        values, log_prob, entropy = evaluate(obs, actions)
        (values.square().mean() - log_prob.mean() - 0.01 * entropy.mean()).backward()
        runs.append([values, log_prob, entropy, *(p.grad.clone() for p in policy.parameters())])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("deterministic", [False, True])
def test_gaussian_policies_are_sb3s_bit_for_bit(deterministic):
    """Continuous actions (agents/policies/gaussian.py): forward and evaluate_actions give SB3's draws, numbers and
    gradients without building a torch Normal."""
    import gymnasium as gym
    from stable_baselines3.common.distributions import DiagGaussianDistribution
    from stable_baselines3.common.policies import ActorCriticPolicy

    from agents.policies.plastic import PlasticActorCriticPolicy
    policy = PlasticActorCriticPolicy(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,)), lambda _: 1e-3)
    assert isinstance(policy.action_dist, DiagGaussianDistribution)
    obs = torch.randn(4, 3)
    runs = []
    for forward, evaluate in ((policy.forward, policy.evaluate_actions),
                              (lambda o, d: ActorCriticPolicy.forward(policy, o, d),
                               lambda o, a: ActorCriticPolicy.evaluate_actions(policy, o, a))):
        torch.manual_seed(5)
        policy.zero_grad()
        with torch.no_grad():
            actions, values, log_prob = forward(obs, deterministic)
        v, lp, ent = evaluate(obs, actions)
        (v.square().mean() - lp.mean() - 0.01 * ent.mean()).backward()
        runs.append([actions, values, log_prob, v, lp, ent, *(p.grad.clone() for p in policy.parameters())])
    assert runs[0][0].shape == (4, 2)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
