"""Differences from the reference implementations (issue 21, items 2–4): each test failed before its fix."""

import pytest
import torch
from torch import nn

import plasticity as P
from plasticity.regularizers import Isometry


# -- 2. isometry target out/in for tall layers (the AdamO authors' rect_scale) ---------------------------------
def test_auto_target_is_out_over_in_for_tall_layers_and_one_otherwise():
    reg = Isometry(1e-2, target_scale="auto")
    tall, wide = torch.empty(12, 4), torch.empty(4, 12)
    nn.init.orthogonal_(tall)
    nn.init.orthogonal_(wide)
    assert reg.target(tall) == 3.0 and reg.target(wide) == 1.0
    scaled = tall * 3.0**0.5  # WᵀW = 3·I: on target, no penalty and no gradient
    assert float(reg.penalty(scaled, {})) == pytest.approx(0.0, abs=1e-9)
    assert reg.grad(scaled, {}).abs().max() < 1e-5
    w = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(reg.grad(w.detach(), {}), torch.autograd.grad(reg.penalty(w, {}), w)[0])
    with pytest.raises(ValueError, match="must be > 0 or 'auto'"):
        Isometry(1e-2, target_scale="big")


def test_adamo_auto_drives_a_tall_layer_to_out_over_in():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(16, 4) * 0.3)
    opt = P.AdamO([w], lr=0.05, coef=1.0, target_scale="auto")
    for _ in range(400):
        w.grad = torch.zeros_like(w)
        opt.step()
    torch.testing.assert_close(w.detach().T @ w.detach(), 4.0 * torch.eye(4), atol=1e-3, rtol=0)


# -- 3. CBP scores every layer before replacing any ------------------------------------------------------------
def test_adaptable_utility_of_the_next_layer_uses_its_incoming_weights_before_the_replacement():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    cbp = P.CBP(net, opt, replacement_rate=0.5, maturity_threshold=0, utility="adaptable_contribution",
                decay_rate=0.0)
    x = torch.randn(32, 4)
    with torch.no_grad():
        h1 = torch.relu(net[0](x))
        h2 = torch.relu(net[2](h1))
        w_in_before = net[2].weight.abs().mean(dim=1)  # layer '2''s incoming weights before '0' is replaced
        expected = net[4].weight.abs().mean(dim=0) * (h2 - h2.mean(0)).abs().mean(0) / w_in_before
    opt.zero_grad()
    net(x).sum().backward()
    opt.step()
    assert cbp.last_replaced["0"].numel() > 0  # layer '0' replaced units, zeroing columns of layer '2'
    kept = torch.ones(5, dtype=torch.bool)
    kept[cbp.last_replaced["2"]] = False  # units replaced in layer '2' itself restart at 0
    torch.testing.assert_close(cbp.util["2"][kept], expected[kept])


# -- 4. conv → flatten → linear: the per-position products are averaged ----------------------------------------
def test_conv_channel_feeding_a_linear_layer_averages_the_per_position_products():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc, self.head = nn.Conv2d(2, 3, 3), nn.Linear(3 * 4 * 4, 5), nn.Linear(5, 1)

        def forward(self, x):
            return self.head(torch.relu(self.fc(torch.relu(self.conv(x)).flatten(1))))

    net = Net()
    with torch.no_grad():
        net.fc.weight.mul_(torch.rand_like(net.fc.weight) * 4)  # uneven columns: the two formulas differ
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    cbp = P.CBP(net, opt, replacement_rate=0.0, decay_rate=0.0)
    x = torch.randn(16, 2, 6, 6)
    with torch.no_grad():
        h = torch.relu(net.conv(x)).flatten(2)  # (N, 3, 16)
        w = net.fc.weight.abs().view(5, 3, 16).mean(dim=0)  # (3, 16): mean over outputs, per channel and position
        expected = (w * h.abs().mean(dim=0)).mean(dim=1)
        products_of_means = w.mean(dim=1) * h.abs().mean(dim=(0, 2))
    opt.zero_grad()
    net(x).sum().backward()
    opt.step()
    torch.testing.assert_close(cbp.util["conv"], expected)
    assert not torch.allclose(expected, products_of_means)


# -- 5. ReDo scores on a batch of 256, not on the training minibatch ---------------------------------------------
def _one_unit_net():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.5]]))
        net[0].bias.zero_()
    return net


def _batch(sign: float) -> torch.Tensor:
    x = torch.rand(32, 2) + 0.1
    x[:, 0] *= sign  # unit 0 sees relu(x₀): active for sign +1, silent for −1
    return x


def test_redo_scores_on_score_batch_samples_from_the_last_minibatches():
    for score_batch, recycled in ((256, []), (32, [0])):  # 32 = the old behaviour: the last minibatch only
        net = _one_unit_net()
        opt = torch.optim.SGD(net.parameters(), lr=0.0)
        redo = P.ReDo(net, opt, threshold=0.1, interval=8, score_batch=score_batch)
        for step in range(8):
            opt.zero_grad()
            net(_batch(-1.0 if step == 7 else 1.0)).sum().backward()  # unit 0 silent on the last one only
            opt.step()
        assert redo.last_recycled["0"].tolist() == recycled, score_batch


def test_redo_score_with_runs_its_own_forward():
    net = _one_unit_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    probe = _batch(1.0).repeat(8, 1)  # 256 samples on which unit 0 is active
    redo = P.ReDo(net, opt, threshold=0.1, interval=1, score_with=lambda: net(probe))
    opt.zero_grad()
    net(_batch(-1.0)).sum().backward()
    opt.step()
    assert redo.last_recycled["0"].tolist() == []
    with pytest.raises(ValueError, match="score_batch=0 must be >= 1"):
        P.ReDo(net, opt, score_batch=0)


# -- 6. Dohare's PPO parity: replaced units keep their optimizer state -------------------------------------------
def test_reset_optimizer_false_leaves_the_replaced_entries_state_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = P.RegularizedAdam(net.parameters(), lr=1e-3)
    x = torch.randn(16, 4)
    for _ in range(3):
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()
    cbp = P.CBP(net, opt, replacement_rate=0.5, maturity_threshold=0, reset_optimizer=False,
                trace_with=lambda: net(x))
    opt.zero_grad()
    net(x).sum().backward()
    opt.step()
    units = cbp.last_replaced["0"]
    assert units.numel() and (opt.state[net[0].weight]["exp_avg"][units] != 0).any()
    assert opt.state[net[0].weight]["step"].ndim == 0  # no per-entry counts were created


def test_the_dohare_ppo_preset_composes_and_builds(tmp_path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from agents.training.runner import prepare
    from envs import make_curriculum
    conf = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose("config", overrides=["method=cbp_dohare_ppo", "agent.n_envs=4", "agent.n_steps=32",
                                           "agent.batch_size=64", f"run_dir={tmp_path}", "device=cpu",
                                           "eval.enabled=false", "metrics.enabled=false"])
    run = prepare(OmegaConf.to_container(cfg, resolve=True), make_curriculum)
    unit = run.method.unit_method
    assert unit.reset_optimizer is False and unit.accumulate is False and unit.maturity_threshold == 10_000
    assert run.model.policy.optimizer.param_groups[0]["betas"] == (0.99, 0.99)


# -- 1 (library part). GroupSort and bias-free layers: the AdamO authors' isometric network ----------------------
def _isometric_groupsort_mlp(width: int = 8, depth: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width, bias=False)
        nn.init.orthogonal_(linear.weight)
        layers += [linear, P.GroupSort(2)]
    head = nn.Linear(width, 2, bias=False)
    return nn.Sequential(*layers, head)


def test_groupsort_is_maxmin_and_its_jacobian_a_permutation():
    x = torch.tensor([[3.0, -1.0, 0.5, 2.0]], requires_grad=True)
    assert P.GroupSort(2)(x).tolist() == [[3.0, -1.0, 2.0, 0.5]]
    assert P.GroupSort(4)(x).tolist() == [[3.0, 2.0, 0.5, -1.0]]
    jac = torch.autograd.functional.jacobian(lambda v: P.GroupSort(2)(v), torch.randn(1, 6)).reshape(6, 6)
    assert set(jac.flatten().tolist()) <= {0.0, 1.0} and (jac.sum(0) == 1).all() and (jac.sum(1) == 1).all()
    with pytest.raises(ValueError, match="5 features are not a multiple of group_size=2"):
        P.GroupSort(2)(torch.randn(1, 5))


def test_an_orthogonal_groupsort_network_has_jacobian_singular_values_all_one():
    torch.manual_seed(0)
    net = _isometric_groupsort_mlp()
    x = torch.randn(64, 8)
    out = P.MetricSuite(net).compute(x)
    assert out["isometry_gap"] == pytest.approx(0.0, abs=1e-6)
    assert out["jacobian_sigma_mean"] == pytest.approx(1.0, abs=1e-6)
    body = nn.Sequential(*list(net)[:-1])  # the hidden stack end to end: an isometry almost everywhere
    sv = torch.linalg.svdvals(torch.autograd.functional.jacobian(body, x[:1]).reshape(8, 8))
    torch.testing.assert_close(sv, torch.ones(8), atol=1e-5, rtol=0)


def test_unit_methods_refuse_groupsort_layers_by_name_and_bias_free_layers_work():
    net = _isometric_groupsort_mlp()
    opt = P.AdamO(net.parameters())
    with pytest.raises(ValueError, match=r"'0' feeds its consumers through GroupSort '1'.*no unit to replace"):
        P.CBP(net, opt, trace_with=lambda: net(torch.randn(4, 8)))
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(6, 8, bias=False), nn.ReLU(), nn.Linear(8, 8, bias=False), nn.ReLU(),
                         nn.Linear(8, 2, bias=False))
    opt = P.AdamO(relu.parameters(), lr=0.0)
    cbp = P.CBP(relu, opt, replacement_rate=0.5, maturity_threshold=0, mean_correction=False)
    x = torch.randn(32, 6)
    opt.zero_grad()
    relu(x).sum().backward()
    opt.step()
    assert sum(cbp.replaced.values()) > 0 and [h.name for h in cbp.graph.hidden] == ["0", "2"]
    assert opt.state[relu[0].weight]["step"].ndim == 2  # bias-free layers get their per-entry resets too


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_agents_build_the_authors_groupsort_bias_free_mlp(tmp_path, agent):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from agents.training.runner import prepare
    from envs import make_curriculum
    conf = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "conf")
    network = "{type: mlp, hidden: [64, 64, 64, 64], activation: groupsort, bias: false}"
    extra = ["agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64"] if agent == "ppo" else \
        ["agent.learning_starts=32", "agent.buffer_size=1000"]
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose("config", overrides=[f"agent={agent}", *extra, f"agent.network={network}", "method=adamo",
                                           f"run_dir={tmp_path}", "device=cpu", "eval.enabled=false",
                                           "metrics.enabled=false", "env.steps_per_task=256", "env.cycles=1"])
    run = prepare(OmegaConf.to_container(cfg, resolve=True), make_curriculum)
    policy = run.model.policy
    linears = [m for m in policy.modules() if isinstance(m, nn.Linear)]
    assert linears and all(m.bias is None for m in linears)
    assert any(isinstance(m, P.GroupSort) for m in policy.modules())
    run.model.learn(256, callback=run.callback, log_interval=None)
    graph = P.trace(policy.trained_module(), policy.example_forward)
    assert graph.hidden and all(h.mixing for h in graph.hidden)
    fresh = policy.fresh_policy()  # resets and checkpoints rebuild the same structure
    assert all(m.bias is None for m in fresh.modules() if isinstance(m, nn.Linear))
