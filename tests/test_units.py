"""Unit methods: introspection, CBP, ReDo, optimizer-state surgery, in-place resets and injection."""

import copy

import gymnasium as gym
import pytest
import torch
from torch import nn

import plasticity as P
from plasticity.metrics import dormant_scores
from plasticity.network import trace


class ConvNet(nn.Module):
    """conv(2→4) → ReLU → conv(4→3) → ReLU → flatten → linear(3·4·4 → 8) → ReLU → head(8 → 2)."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(2, 4, 3), nn.Conv2d(4, 3, 3)
        self.fc, self.head = nn.Linear(3 * 4 * 4, 8), nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.head(torch.relu(self.fc(x.flatten(1))))


def mlp():
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 3))


def step(model, opt, x, y=None):
    opt.zero_grad()
    out = model(x)
    loss = (out - (y if y is not None else torch.zeros_like(out))).pow(2).mean()
    loss.backward()
    opt.step()
    return loss.item()


# -- introspection ------------------------------------------------------------------------------------
def test_trace_finds_hidden_layers_consumers_and_conv_groups():
    net = ConvNet()
    graph = trace(net, lambda: net(torch.zeros(2, 2, 8, 8)))
    assert [(h.name, h.n_units, [(c.name, c.group) for c in h.consumers]) for h in graph.hidden] == [
        ("c1", 4, [("c2", 1)]), ("c2", 3, [("fc", 16)]), ("fc", 8, [("head", 1)])]
    assert graph.outputs == ["head"]


@pytest.mark.parametrize("share", [True, False])
def test_trace_handles_sb3_actor_critic_and_dqn(share):
    from agents.policies.networks import minatar_policy_kwargs
    from agents.policies.plastic import PlasticActorCriticPolicy, PlasticDQNPolicy
    obs, act = gym.spaces.Box(0, 1, (10, 10, 10), bool), gym.spaces.Discrete(6)
    pol = PlasticActorCriticPolicy(obs, act, lambda _: 1e-3, share_features_extractor=share,
                                   **minatar_policy_kwargs())
    x = torch.zeros(3, 10, 10, 10)
    graph = trace(pol, lambda: pol.evaluate_actions(x, torch.zeros(3)))
    assert set(graph.outputs) == {"action_net", "value_net"}
    features = [h for h in graph.hidden if h.name.endswith("linear.0")]
    consumers = sorted(c.name for h in features for c in h.consumers)
    assert consumers == ["action_net", "value_net"]
    assert all(c.group == 64 for h in graph.hidden if h.is_conv for c in h.consumers)
    dqn = PlasticDQNPolicy(obs, act, lambda _: 1e-3, **minatar_policy_kwargs())
    graph = trace(dqn.q_net, lambda: dqn.q_net(x))
    assert graph.outputs == ["q_net.0"] and len(graph.hidden) == 2


def test_trace_rejects_ops_that_mix_units_and_models_without_hidden_layers():
    class Permuted(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 3 * 3, 1)

        def forward(self, x):
            return self.fc(self.c(x).permute(0, 2, 3, 1).flatten(1))

    net = Permuted()
    with pytest.raises(ValueError, match="permute between 'c' and 'fc' breaks the unit order"):
        trace(net, lambda: net(torch.zeros(1, 1, 5, 5)))
    single = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="has no hidden layer"):
        trace(single, lambda: single(torch.zeros(1, 3)))
    norm = nn.Sequential(nn.Linear(3, 4), nn.GroupNorm(2, 4), nn.Linear(4, 1))  # mixes units within a group
    with pytest.raises(ValueError, match="unsupported op NativeGroupNormBackward0"):
        trace(norm, lambda: norm(torch.zeros(2, 3)))


# -- CBP ----------------------------------------------------------------------------------------------
def replace_now(model, x, **kw):
    """One lr=0 step (weights unchanged by Adam) with CBP set to replace at once; returns (cbp, opt)."""
    opt = P.RegularizedAdam(model.parameters(), lr=0.0)
    cbp = P.CBP(model, opt, maturity_threshold=0, replacement_rate=kw.pop("rate", 0.3), **kw)
    step(model, opt, x)
    return cbp, opt


CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("make, shape", [(mlp, (16, 5)), (ConvNet, (16, 2, 8, 8))])
def test_replacement_keeps_the_function_but_for_the_removed_units(make, shape, device):
    torch.manual_seed(0)
    model = make().to(device)
    x = torch.randn(shape, device=device)
    before = copy.deepcopy(model)
    cbp, _ = replace_now(model, x)
    replaced = {k: v for k, v in cbp.last_replaced.items() if v.numel()}
    assert replaced, "the test needs at least one replacement"
    with torch.no_grad():
        expected_model = copy.deepcopy(before)
        for name, units in replaced.items():
            layer = cbp.graph[name]
            for consumer in layer.consumers:
                dict(expected_model.named_modules())[consumer.name].weight[consumer.outgoing(units)] = 0.0
        torch.testing.assert_close(model(x), expected_model(x), rtol=0, atol=1e-6)
        for name, units in replaced.items():  # new incoming weights have no influence
            dict(model.named_modules())[name].weight[units] += torch.randn_like(
                dict(model.named_modules())[name].weight[units])
        torch.testing.assert_close(model(x), expected_model(x), rtol=0, atol=1e-6)


def test_mean_correction_moves_the_removed_mean_into_the_consumer_bias():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    x = torch.randn(32, 5)
    with torch.no_grad():
        f_hat = torch.relu(model[0](x)).mean(0)  # at age 1 the bias-corrected running mean is the batch mean
    before = copy.deepcopy(model)
    cbp, _ = replace_now(model, x, rate=0.5, mean_correction=True)
    units = cbp.last_replaced["0"]
    assert units.numel()
    with torch.no_grad():
        zeroed = copy.deepcopy(before)
        zeroed[2].weight[:, units] = 0
        shift = before[2].weight[:, units] @ f_hat[units]
        for probe in (x, torch.randn(9, 5)):  # outputs shift by exactly W_out·f̂, whatever the input
            torch.testing.assert_close(model(probe) - zeroed(probe), shift.expand(len(probe), -1), rtol=0,
                                       atol=1e-6)


def test_replaced_params_stay_in_the_optimizer_and_only_their_state_resets():
    torch.manual_seed(2)
    model = ConvNet()
    x = torch.randn(8, 2, 8, 8)
    opt = P.RegularizedAdam(model.parameters(), lr=1e-2)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    cbp = P.CBP(model, opt, replacement_rate=0.0, maturity_threshold=0)
    for _ in range(5):
        step(model, opt, x)
    state_before = {id(p): {k: v.clone() for k, v in opt.state[p].items()} for p in model.parameters()}
    cbp.replacement_rate = 0.5
    with torch.no_grad():
        cbp.update(cbp._capture.activations)  # one replacement round on the last batch, outside a step
    assert [id(p) for g in opt.param_groups for p in g["params"]] == ids
    touched = {}
    for name, units in cbp.last_replaced.items():
        layer = cbp.graph[name]
        touched.setdefault(id(layer.module.weight), []).append((units,))
        touched.setdefault(id(layer.module.bias), []).append((units,))
        for c in layer.consumers:
            touched.setdefault(id(c.weight), []).append(c.outgoing(units))
    assert cbp.last_replaced["c2"].numel() and cbp.last_replaced["fc"].numel()
    for p in model.parameters():
        mask = torch.zeros_like(p, dtype=torch.bool)
        for index in touched.get(id(p), []):
            mask[index] = True
        new, old = opt.state[p], state_before[id(p)]
        for key in ("exp_avg", "exp_avg_sq"):
            assert (new[key][mask] == 0).all()
            assert torch.equal(new[key][~mask], old[key][~mask])
        step_t = new["step"]
        if mask.any():
            assert step_t.shape == p.shape and (step_t[mask] == 0).all() and (step_t[~mask] == 5).all()
        else:
            assert step_t.ndim == 0 and step_t == 5
    fc_cols = touched[id(model.fc.weight)][0][1]
    assert fc_cols.numel() == 16 * cbp.last_replaced["c2"].numel()  # whole channels: all H·W columns


def test_reset_entries_restart_adam_exactly_like_a_fresh_entry():
    w = nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    opt = P.RegularizedAdam([w], lr=0.1)
    g = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(50):
        w.grad = g.clone()
        opt.step()
    from plasticity.surgery import reset_optimizer_entries
    reset_optimizer_entries(opt, w, (torch.tensor([1]),))
    fresh = nn.Parameter(w.detach()[1:2].clone())
    fresh_opt = torch.optim.Adam([fresh], lr=0.1)
    for _ in range(3):
        w.grad = g.clone()
        opt.step()
        fresh.grad = g[1:2].clone()
        fresh_opt.step()
    torch.testing.assert_close(w.detach()[1:2], fresh.detach(), rtol=1e-12, atol=1e-12)


def test_replacement_count_follows_the_rate_and_respects_maturity():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 50), nn.ReLU(), nn.Linear(50, 1))
    opt = P.RegularizedAdam(model.parameters(), lr=1e-3)
    rate, maturity = 0.01, 20
    cbp = P.CBP(model, opt, replacement_rate=rate, maturity_threshold=maturity)
    x = torch.randn(16, 4)
    step(model, opt, x)  # builds the graph
    total, due = 0, 0.0
    for _ in range(400):
        age_next = cbp.age["0"] + 1
        due += rate * int((age_next > maturity).sum())
        step(model, opt, x)
        units = cbp.last_replaced["0"]
        total += units.numel()
        assert (age_next[units] > maturity).all(), "a unit younger than the maturity threshold was replaced"
    assert total > 100 and abs(total - due) < 1.0  # accumulate=True: replacements track ρ·eligible exactly
    assert cbp.replaced["0"] == total
    assert set(cbp.replaced) == {"0"}  # the output layer is never a candidate


def test_utilities_equal_a_hand_computed_value():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor([[2.0, -3.0]]))
        model[2].bias.zero_()
    opt = P.RegularizedAdam(model.parameters(), lr=0.0)
    cbp = P.CBP(model, opt, replacement_rate=0.0, decay_rate=0.9)
    x = torch.tensor([[1.0, -1.0], [3.0, 2.0]])  # h = relu([[1, 1], [3, -2]]) = [[1, 1], [3, 0]]
    step(model, opt, x)
    # u = (1-η)·|w_out|·mean|h| = 0.1·[2·2, 3·0.5]; bias-corrected by 1-η^1 = 0.1
    torch.testing.assert_close(cbp.util["0"], torch.tensor([0.4, 0.15]))
    torch.testing.assert_close(cbp.utilities("0"), torch.tensor([4.0, 1.5]))
    step(model, opt, x)
    torch.testing.assert_close(cbp.utilities("0"), torch.tensor([4.0, 1.5]))  # constant input: same û


def test_adaptable_and_mean_corrected_utilities():
    model = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[0].bias.zero_()
        model[2].weight.fill_(0.5)
    expected = {"zero_contribution": 0.5 * 2.0, "adaptable_contribution": 0.5 * 2.0 / 2.0}
    for utility, value in expected.items():  # one unit method per optimizer: one optimizer each
        opt = P.RegularizedAdam(model.parameters(), lr=0.0)
        cbp = P.CBP(model, opt, replacement_rate=0.0, utility=utility, decay_rate=0.0)
        step(model, opt, torch.tensor([[1.0], [3.0]]))  # h = [2, 6], mean 4, mean|h - 4| = 2
        torch.testing.assert_close(cbp.utilities("0"), torch.tensor([value]))
        cbp.remove()


def test_cbp_is_deterministic_for_a_seed_and_validates_settings():
    def run(seed):
        torch.manual_seed(0)
        model = ConvNet()
        opt = P.RegularizedAdam(model.parameters(), lr=1e-2)
        P.CBP(model, opt, replacement_rate=0.05, maturity_threshold=3, seed=seed)
        g = torch.Generator().manual_seed(9)
        for _ in range(30):
            step(model, opt, torch.randn(8, 2, 8, 8, generator=g))
        return [p.detach().clone() for p in model.parameters()]

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    model = mlp()
    opt = torch.optim.Adam(model.parameters())
    for kwargs, message in [({"replacement_rate": 1.5}, r"replacement_rate=1.5 must be in \[0, 1\]"),
                            ({"replacement_rate": -0.1}, r"replacement_rate=-0.1 must be in \[0, 1\]"),
                            ({"maturity_threshold": -1}, "maturity_threshold=-1 must be >= 0"),
                            ({"utility": "magic"}, "utility='magic'; valid choices: contribution")]:
        with pytest.raises(ValueError, match=message):
            P.CBP(model, opt, **kwargs)
    single = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="has no hidden layer"):
        P.CBP(single, torch.optim.Adam(single.parameters()), trace_with=lambda: single(torch.zeros(1, 3)))
    with pytest.raises(ValueError, match="not in the optimizer's param groups"):
        P.CBP(model, torch.optim.Adam(model[0].parameters()), trace_with=lambda: model(torch.zeros(1, 5)))


def test_cbp_state_dict_round_trip_continues_identically():
    torch.manual_seed(4)
    model = ConvNet()
    opt = P.RegularizedAdam(model.parameters(), lr=1e-2)
    cbp = P.CBP(model, opt, replacement_rate=0.05, maturity_threshold=2, seed=3)
    data = [torch.randn(8, 2, 8, 8) for _ in range(20)]
    for x in data[:10]:
        step(model, opt, x)
    saved = copy.deepcopy((model.state_dict(), opt.state_dict(), cbp.state_dict()))
    for x in data[10:]:
        step(model, opt, x)
    clone = ConvNet()
    clone.load_state_dict(saved[0])
    clone_opt = P.RegularizedAdam(clone.parameters(), lr=1e-2)
    clone_opt.load_state_dict(saved[1])
    clone_cbp = P.CBP(clone, clone_opt, replacement_rate=0.05, maturity_threshold=2, seed=99)
    clone_cbp.load_state_dict(saved[2])
    for x in data[10:]:
        step(clone, clone_opt, x)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), clone.parameters(), strict=True))
    assert sum(cbp.replaced.values()) > sum(saved[2]["replaced"].values())


def test_a_scalar_step_optimizer_without_an_exact_rule_gets_its_moments_zeroed_with_a_warning():
    import plasticity.surgery as surgery
    surgery._warned.discard(torch.optim.NAdam)
    w = nn.Parameter(torch.randn(3, 2))
    opt = torch.optim.NAdam([w])
    w.grad = torch.ones_like(w)
    opt.step()
    with pytest.warns(UserWarning, match="bias correction is not restarted"):
        surgery.reset_optimizer_entries(opt, w, (torch.tensor([0]),))
    assert (opt.state[w]["exp_avg"][0] == 0).all() and (opt.state[w]["exp_avg"][1] != 0).all()


# -- ReDo ---------------------------------------------------------------------------------------------
def test_redo_recycles_exactly_the_dormant_units():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(6, 4) * torch.tensor([[1.0], [1.0], [1.0], [0.01], [1.0], [1.0]]))
        model[0].bias.copy_(torch.tensor([0.0, -10.0, 0.0, 0.0, 0.0, 0.0]))  # unit 1 dead; 4, 5 see no input
    opt = P.RegularizedAdam(model.parameters(), lr=0.0)
    redo = P.ReDo(model, opt, threshold=0.1, interval=1)
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    h = torch.relu(model[0](x)).detach()
    scores = dormant_scores(h)
    step(model, opt, x)
    expected = torch.nonzero(scores <= 0.1).flatten()
    assert expected.tolist() == [1, 3, 4, 5]
    assert torch.equal(redo.last_recycled["0"], expected)
    assert (model[2].weight[:, expected] == 0).all() and (model[0].bias[expected] == 0).all()
    assert model[2].weight[:, 0].abs().sum() > 0


def test_redo_runs_every_interval_only_and_tau_zero_means_exactly_zero():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [1e-6, 0.0], [0.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([0.0, 0.0, -5.0]))
    opt = P.RegularizedAdam(model.parameters(), lr=0.0)
    redo = P.ReDo(model, opt, threshold=0.0, interval=3)
    x = torch.tensor([[1.0, 1.0]])
    step(model, opt, x)
    step(model, opt, x)
    assert redo.recycled == {}
    step(model, opt, x)
    assert redo.last_recycled["0"].tolist() == [2]  # only the exactly-silent unit, not the tiny one
    with pytest.raises(ValueError, match="threshold"):
        P.ReDo(model, opt, threshold=-1)


# -- task-switch methods --------------------------------------------------------------------------------
def test_in_place_resets_keep_the_optimizer_and_training_working():
    torch.manual_seed(5)
    model = mlp()
    opt = P.AdamO(P.param_groups(model, exclude=["4"]), lr=1e-2, coef=1e-3)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    x = torch.randn(64, 5)
    y = x @ torch.randn(5, 3)
    for _ in range(50):
        step(model, opt, x, y)
    fresh = P.fresh_like(model)
    P.reset_parameters(list(model.parameters()), list(fresh.parameters()), opt)
    assert all(torch.equal(p, f) for p, f in zip(model.parameters(), fresh.parameters(), strict=True))
    assert [id(p) for g in opt.param_groups for p in g["params"]] == ids
    assert all("exp_avg" not in opt.state[p] for p in model.parameters())
    losses = [step(model, opt, x, y) for _ in range(200)]
    assert losses[-1] < 0.3 * losses[0]


def test_shrink_perturb_and_optimizer_reset():
    model, fresh = mlp(), mlp()
    before = [p.detach().clone() for p in model.parameters()]
    opt = P.L2InitAdam(model.parameters(), lr=1e-2, coef=1e-3)
    step(model, opt, torch.randn(4, 5))
    after_step = [p.detach().clone() for p in model.parameters()]
    P.shrink_perturb(list(model.parameters()), list(fresh.parameters()), shrink=0.4, perturb=0.1, optimizer=opt)
    for p, a, f in zip(model.parameters(), after_step, fresh.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), 0.4 * a + 0.1 * f.detach())
    assert all("l2init_init" in opt.state[p] and "exp_avg" not in opt.state[p] for p in model.parameters())
    P.reset_optimizer_state(opt)
    assert before  # silence unused
    with pytest.raises(ValueError, match=r"shrink=1.5 must be in \[0, 1\]"):
        P.shrink_perturb(list(model.parameters()), list(fresh.parameters()), shrink=1.5)


def test_injection_preserves_outputs_and_trains_only_the_new_head():
    torch.manual_seed(6)
    model = mlp()
    opt = P.RegularizedAdam(model.parameters(), lr=1e-2)
    x, y = torch.randn(32, 5), torch.randn(32, 3)
    for _ in range(10):
        step(model, opt, x, y)
    with torch.no_grad():
        before = model(x)
    old_head = model[4]
    head = P.inject(model, "4", nn.Linear(6, 3), opt)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=0, atol=1e-6)
    trainable_before = sum(p.numel() for p in old_head.parameters())
    assert sum(p.numel() for p in head.parameters() if p.requires_grad) == trainable_before
    old_w = old_head.weight.detach().clone()
    losses = [step(model, opt, x, y) for _ in range(50)]
    assert torch.equal(old_head.weight, old_w) and losses[-1] < losses[0]

