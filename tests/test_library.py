"""plasticity as a library in other people's training loops (issue 19): each numbered defect of the issue has a
test here that failed before its fix, then the features users expect (any base optimizer, part of a model,
normalization layers, compiled models, a library that installs alone)."""

import copy
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import plasticity as P
from plasticity import metrics as M
from plasticity.surgery import reset_optimizer_entries

ROOT = Path(__file__).resolve().parents[1]


class CleanRLAgent(nn.Module):
    """CleanRL's ``Agent``: the critic is defined first, the actor is called first, there is no ``forward``."""

    def __init__(self, obs: int = 8, actions: int = 4, hidden: int = 16):
        super().__init__()
        self.critic = nn.Sequential(nn.Linear(obs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                    nn.Linear(hidden, 1))
        self.actor = nn.Sequential(nn.Linear(obs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                   nn.Linear(hidden, actions))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x):
        logits = self.actor(x)
        return logits, self.critic(x)


class SharedTrunk(nn.Module):
    """CleanRL's Atari agent: one trunk, then the actor and the critic heads."""

    def __init__(self):
        super().__init__()
        self.critic = nn.Linear(16, 1)
        self.actor = nn.Linear(16, 4)
        self.network = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())

    def get_action_and_value(self, x):
        hidden = self.network(x)
        return self.actor(hidden), self.critic(hidden)


def ppo_step(agent, opt, x):
    opt.zero_grad()
    logits, value = agent.get_action_and_value(x)
    (logits.logsumexp(1).mean() + value.square().mean()).backward()
    opt.step()


# -- 1. introspection follows every branch ---------------------------------------------------------------
def test_trace_finds_actor_and_critic_whatever_the_definition_and_call_order():
    agent, x = CleanRLAgent(), torch.randn(32, 8)
    graph = P.trace(agent, lambda: agent.get_action_and_value(x))
    assert sorted(h.name for h in graph.hidden) == ["actor.0", "actor.2", "critic.0", "critic.2"]
    assert sorted(graph.outputs) == ["actor.4", "critic.4"]
    trunk = SharedTrunk()
    graph = P.trace(trunk, lambda: trunk.get_action_and_value(x))
    assert [h.name for h in graph.hidden] == ["network.0", "network.2"]
    assert sorted(c.name for c in graph["network.2"].consumers) == ["actor", "critic"]


def test_cbp_and_redo_see_every_branch_from_the_training_forward():
    agent, x = CleanRLAgent(), torch.randn(32, 8)
    opt = P.AdamO(agent.parameters(), lr=1e-3)
    cbp = P.CBP(agent, opt, replacement_rate=0.5, maturity_threshold=0)
    ppo_step(agent, opt, x)
    assert sorted(cbp.util) == ["actor.0", "actor.2", "critic.0", "critic.2"]
    assert all(cbp.replaced[name] > 0 for name in cbp.util)


def test_metric_suite_sees_both_branches_and_unreached_layers_are_named():
    agent = CleanRLAgent()

    class Outputs(nn.Module):  # what a user hands MetricSuite: logits and value side by side
        def __init__(self):
            super().__init__()
            self.agent = agent

        def forward(self, x):
            return torch.cat(agent.get_action_and_value(x), dim=1)

    out = P.MetricSuite(Outputs()).compute(torch.randn(64, 8))
    assert {k.split("/")[1] for k in out if k.startswith("fau/")} == {"agent.actor.0", "agent.actor.2",
                                                                     "agent.critic.0", "agent.critic.2"}
    with pytest.warns(UserWarning, match=r"not reached by the traced forward pass: critic\.0, critic\.2, critic\.4"):
        P.trace(agent, lambda: agent.actor(torch.randn(4, 8)))


def test_a_layer_that_cannot_be_placed_is_left_out_by_name_and_the_rest_is_kept():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.block, self.out = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            h = torch.relu(self.inp(x))
            return self.out(torch.relu(h + self.block(h)))  # 'inp' and 'block' both reach 'out' through an add

    class Head(nn.Module):  # a clean two-layer branch next to it
        def __init__(self):
            super().__init__()
            self.res, self.a, self.b = Residual(), nn.Linear(4, 6), nn.Linear(6, 1)

        def forward(self, x):
            return torch.cat([self.res(x), self.b(torch.relu(self.a(x)))], dim=1)

    net = Head()
    with pytest.warns(UserWarning, match=r"left out of unit methods and metrics: 'res\.block': unsupported op "
                                         r"AddBackward0 between 'res\.block' and 'res\.out' .*'res\.inp'"):
        graph = P.trace(net, lambda: net(torch.randn(3, 4)))
    assert [h.name for h in graph.hidden] == ["a"]
    with pytest.raises(ValueError, match=r"no hidden layer unit methods can act on .*AddBackward0"):
        P.trace(net.res, lambda: net.res(torch.randn(3, 4)))


# -- 2. checkpoints load before the first step and with gradient-less parameters --------------------------
@pytest.mark.parametrize("cls", [P.L2InitAdam, P.SpectralAdam, P.WassersteinAdam])
def test_regularizer_state_round_trips_at_step_zero_and_without_gradients(cls):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    frozen = nn.Linear(3, 3)  # in the optimizer, never given a gradient
    params = [*net.parameters(), *frozen.parameters()]
    cls(params).load_state_dict(cls(params).state_dict())  # step 0
    opt = cls(params, lr=1e-2, coef=1e-1)
    x = torch.randn(16, 6)
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    twin_net = copy.deepcopy(net)
    twin = cls([*twin_net.parameters(), *frozen.parameters()], lr=1e-2, coef=1e-1)
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    for model, o in ((net, opt), (twin_net, twin)):
        o.zero_grad()
        model(x).square().mean().backward()
        o.step()
    for a, b in zip(net.parameters(), twin_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- 3. maximize descends the penalties --------------------------------------------------------------------
def test_maximize_still_shrinks_coupled_l2_exactly_like_torch_weight_decay():
    torch.manual_seed(0)
    w0 = torch.randn(16, 16) * 2
    ours, ref = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    opts = [P.L2Adam([ours], lr=1e-2, coef=1e-1, maximize=True),
            torch.optim.Adam([ref], lr=1e-2, weight_decay=1e-1, maximize=True)]
    for _ in range(200):
        for p, o in zip((ours, ref), opts, strict=True):
            p.grad = torch.zeros_like(p)  # no task gradient: only the penalty acts
            o.step()
    torch.testing.assert_close(ours, ref)
    assert ours.norm() < 0.5 * w0.norm()


def test_maximize_keeps_the_isometry_penalty_descending():
    torch.manual_seed(0)
    for opt_cls in (P.IsoAdam, P.AdamO):
        w = nn.Parameter(torch.randn(8, 8))
        opt = opt_cls([w], lr=1e-2, coef=1e-2, maximize=True)
        before = float(opt.penalty())
        for _ in range(50):
            w.grad = torch.zeros_like(w)
            opt.step()
        assert float(opt.penalty()) < 0.5 * before, opt_cls.__name__


# -- 4. exact step counts in low precision ---------------------------------------------------------------
def test_bf16_per_entry_step_counts_are_exact_past_256():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(4, 3).bfloat16())
    opt = P.RegularizedAdam([w], lr=1e-3)
    g = torch.randn(4, 3).bfloat16()
    for _ in range(10):
        w.grad = g.clone()
        opt.step()
    reset_optimizer_entries(opt, w, (torch.tensor([0]),))
    for _ in range(1000):
        w.grad = g.clone()
        opt.step()
    step = opt.state[w]["step"]
    assert step.dtype == torch.float32  # a bf16 count stops at 256: bias correction 1 − β₂^256 instead of ^1000
    assert step[0].tolist() == [1000.0] * 3 and step[1].tolist() == [1010.0] * 3


# -- 5. metrics take the natural inputs or refuse --------------------------------------------------------
def test_rank_metrics_take_feature_matrices_and_refuse_other_shapes():
    torch.manual_seed(0)
    features = torch.randn(256, 64)
    sv = M.singular_values(features)
    for fn in (M.effective_rank, M.srank, M.approximate_rank, M.stable_rank):
        assert fn(features) == fn(sv)
    assert M.effective_rank(features) <= 64
    with pytest.raises(ValueError, match=r"singular values \(1-D\) or a matrix \(2-D\), got shape \(2, 3, 4\)"):
        M.effective_rank(torch.zeros(2, 3, 4))


def test_unit_metrics_reduce_conv_maps_per_channel():
    h = torch.ones(8, 3, 5, 5)
    h[:, :, :, 0] = 0  # every channel is silent in one column but active elsewhere: no dormant channel
    h[:, 2] = 0  # channel 2 is silent everywhere
    assert M.dormant_ratio(h, 0.1) == pytest.approx(1 / 3)
    assert M.dead_fraction(h) == pytest.approx(1 / 3)
    torch.testing.assert_close(M.dormant_scores(h), M.dormant_scores(h.flatten(2)))
    with pytest.raises(ValueError, match=r"activations of shape \(5,\)"):
        M.dormant_ratio(torch.ones(5), 0.1)


# -- 6. amsgrad with unit resets --------------------------------------------------------------------------
def test_amsgrad_reset_entries_restart_like_fresh_amsgrad_entries():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    opt = P.AdamO([w], lr=0.1, coef=0.0, amsgrad=True)
    for _ in range(20):
        w.grad = torch.randn(4, 3, dtype=torch.float64)
        opt.step()
    reset_optimizer_entries(opt, w, (torch.tensor([1]),))
    fresh = nn.Parameter(w.detach()[1:2].clone())
    fresh_opt = torch.optim.Adam([fresh], lr=0.1, amsgrad=True)
    for _ in range(5):
        g = torch.randn(4, 3, dtype=torch.float64)
        w.grad, fresh.grad = g.clone(), g[1:2].clone()
        opt.step()
        fresh_opt.step()
    torch.testing.assert_close(w.detach()[1:2], fresh.detach(), rtol=1e-12, atol=1e-12)


def test_amsgrad_with_cbp_trains_through_replacements():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = P.AdamO(net.parameters(), amsgrad=True)
    cbp = P.CBP(net, opt, replacement_rate=0.5, maturity_threshold=0)
    for _ in range(5):
        opt.zero_grad()
        net(torch.randn(8, 4)).square().mean().backward()
        opt.step()
    assert cbp.replaced["0"] > 0 and torch.isfinite(net[0].weight).all()


# -- 7. torch.compile ---------------------------------------------------------------------------------------
def test_unit_methods_work_on_compiled_models():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    compiled = torch.compile(net, backend="eager")
    opt = torch.optim.SGD(compiled.parameters(), lr=0.0)
    redo = P.ReDo(compiled, opt, interval=1, threshold=0.0)
    x = torch.randn(16, 4)
    with torch.no_grad():
        net[0].weight[:3] = 0
        net[0].bias[:3] = -1  # units 0–2 are dead on every input
    opt.zero_grad()
    compiled(x).sum().backward()
    opt.step()
    assert [h.name for h in redo.graph.hidden] == ["0"]
    assert redo.last_recycled["0"].tolist() == [0, 1, 2]
    assert net[0].weight[:3].abs().sum() > 0  # the original module's weights were recycled
    for _ in range(2):  # later steps read the compiled forward's activations (hooks traced into it)
        opt.zero_grad()
        compiled(x).sum().backward()
        opt.step()
    assert redo.recycled["0"] == 3 and redo.num_steps == 3


def test_metric_suite_measures_a_compiled_model_through_its_original():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    compiled = torch.compile(net, backend="eager")
    compiled(torch.randn(3, 4))  # compiled before the suite adds its hooks
    x = torch.randn(16, 4)
    assert P.MetricSuite(compiled).compute(x) == P.MetricSuite(net).compute(x)


def test_a_compiled_model_called_before_the_unit_method_gets_a_clear_error():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    compiled = torch.compile(net, backend="eager")
    compiled(torch.randn(2, 4)).sum().backward()  # compiled before CBP's hooks exist
    opt = torch.optim.SGD(compiled.parameters(), lr=0.0)
    P.CBP(compiled, opt, maturity_threshold=0)
    opt.zero_grad()
    compiled(torch.randn(2, 4)).sum().backward()
    with pytest.raises(RuntimeError, match="build it before the compiled model's first call"):
        opt.step()


# -- 8. docs agree with the code -----------------------------------------------------------------------------
def _table_value(doc: str, method: str) -> tuple[float, float]:
    row = next(line for line in doc.splitlines() if line.startswith(f"| `{method}` |"))
    cls_value, conf_value = (float(v) for v in row.rstrip(" |").rsplit("|", 1)[1].split("/"))
    return cls_value, conf_value


@pytest.mark.parametrize("method,cls", [("adamo", P.AdamO), ("iso_adam", P.IsoAdam), ("l2", P.L2Adam),
                                        ("l2_init", P.L2InitAdam), ("spectral", P.SpectralAdam),
                                        ("wasserstein", P.WassersteinAdam)])
def test_methods_doc_states_the_class_and_config_defaults(method, cls):
    import inspect
    doc = (ROOT / "docs" / "methods.md").read_text()
    cls_value, conf_value = _table_value(doc, method)
    from agents.config.cli import compose_checked
    assert inspect.signature(cls).parameters["coef"].default == cls_value
    assert compose_checked(ROOT / "conf", "config", [f"method={method}"])["method"]["coef"] == conf_value


def test_readme_sb3_snippet_keeps_sb3_eps_and_does_not_share_groups():
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"optimizer_class=plasticity\.AdamO, optimizer_kwargs=dict\(([^)]*)\)", readme)
    assert snippet and "eps=1e-5" in snippet.group(1)
    assert "groups = plasticity.param_groups" not in readme  # one list handed to two optimizers


# -- any base optimizer ------------------------------------------------------------------------------------
def test_with_regularizers_equals_the_base_with_coefficient_zero_and_coupled_l2_is_weight_decay():
    torch.manual_seed(0)
    for base, kwargs in ((torch.optim.SGD, dict(lr=0.1, momentum=0.9)), (torch.optim.RMSprop, dict(lr=1e-2)),
                         (torch.optim.Adam, dict(lr=1e-2, fused=True)), (torch.optim.AdamW, dict(lr=1e-2))):
        w0 = torch.randn(6, 5)
        ours, ref, l2, ref_l2 = (nn.Parameter(w0.clone()) for _ in range(4))
        opts = [P.with_regularizers(base, P.Isometry(0.0, coupled=False))([ours], **kwargs), base([ref], **kwargs),
                P.with_regularizers(base, P.L2(1e-2))([l2], **kwargs),
                base([ref_l2], **{**kwargs, "weight_decay": 1e-2})]
        for _ in range(10):
            g = torch.randn(6, 5)
            for p, o in zip((ours, ref, l2, ref_l2), opts, strict=True):
                p.grad = g.clone()
                o.step()
        torch.testing.assert_close(ours, ref, rtol=0, atol=0, msg=base.__name__)
        if base is not torch.optim.AdamW:  # AdamW's weight decay is decoupled, not an L2 gradient
            torch.testing.assert_close(l2, ref_l2, msg=base.__name__)


def test_with_regularizers_decoupled_step_follows_the_base_step():
    torch.manual_seed(0)
    w0, g = torch.randn(6, 4), torch.randn(6, 4)
    w, ref = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    opt = P.with_regularizers(torch.optim.SGD, P.Isometry(0.1, coupled=False))([w], lr=0.05)
    w.grad = g.clone()
    opt.step()
    assert torch.equal(w.grad, g)  # the user's gradient is untouched
    with torch.no_grad():
        ref -= 0.05 * g
        ref -= 0.05 * 0.1 * 4 * ref @ (ref.T @ ref - torch.eye(4))
    torch.testing.assert_close(w, ref)


def test_with_regularizers_state_dict_pickle_and_sb3_style_construction():
    torch.manual_seed(0)
    cls = P.with_regularizers(torch.optim.RMSprop, P.L2Init(1e-1), noise_std=1e-3, seed=3)
    net = nn.Linear(5, 3)
    opt = cls(net.parameters(), lr=1e-2)
    x = torch.randn(8, 5)

    def train(model, o, steps):
        for _ in range(steps):
            o.zero_grad()
            model(x).square().mean().backward()
            o.step()

    train(net, opt, 3)
    twin_net = copy.deepcopy(net)
    twin = cls(twin_net.parameters(), lr=1e-2)
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    clone = pickle.loads(pickle.dumps(opt))
    assert type(clone).__name__ == "RegularizedRMSprop" and clone.regularizers[0].coef == 1e-1
    adamw = pickle.loads(pickle.dumps(P.with_regularizers(torch.optim.AdamW, P.L2Init(1e-2))(net.parameters())))
    assert isinstance(adamw, P.AdamW) and adamw.param_groups[0]["weight_decay"] == 1e-2
    assert adamw.param_groups[0]["decoupled_weight_decay"] and adamw.regularizers[0].coef == 1e-2
    train(net, opt, 2)
    train(twin_net, twin, 2)
    for a, b in zip(net.parameters(), twin_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(TypeError, match=r"must be a torch\.optim\.Optimizer class"):
        P.with_regularizers(torch.nn.Linear)
    with pytest.raises(ValueError, match="distinct kinds"):
        P.with_regularizers(torch.optim.SGD, P.L2(1e-3), P.L2(1e-2))
    with pytest.raises(TypeError, match="LBFGS re-evaluates the loss inside its step"):
        P.with_regularizers(torch.optim.LBFGS, P.L2(1e-3))


@pytest.mark.parametrize("base,kwargs", [(torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
                                         (torch.optim.RMSprop, dict(lr=1e-2, momentum=0.5, centered=True)),
                                         (torch.optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.1)),
                                         (torch.optim.Adam, dict(lr=0.1)),
                                         (torch.optim.Adam, dict(lr=0.1, amsgrad=True, weight_decay=0.1)),
                                         (torch.optim.AdamW, dict(lr=0.1, weight_decay=0.1)),
                                         (torch.optim.Adam, dict(lr=0.1, maximize=True))])
def test_stock_optimizer_reset_entries_behave_like_new_entries_and_the_rest_continues(base, kwargs):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    opt = base([w], **kwargs)
    for _ in range(30):
        w.grad = torch.randn(4, 3, dtype=torch.float64)
        opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exact rule: no warning
        reset_optimizer_entries(opt, w, (torch.tensor([2]),))
        reset_optimizer_entries(opt, w, (slice(None), torch.tensor([0])))
    fresh_row = nn.Parameter(w.detach()[2:3].clone())
    kept = nn.Parameter(w.detach()[0:2, 1:].clone())  # never reset: continues like the untouched optimizer
    twin = base([kept], **kwargs)
    twin.load_state_dict({"state": {0: {k: (v[0:2, 1:].clone() if v.ndim else v.clone())
                                        for k, v in opt.state[w].items()}},
                          "param_groups": [{**opt.param_groups[0], "params": [0]}]})
    fresh_opt = base([fresh_row], **kwargs)
    for _ in range(6):
        g = torch.randn(4, 3, dtype=torch.float64)
        w.grad, fresh_row.grad, kept.grad = g.clone(), g[2:3].clone(), g[0:2, 1:].clone()
        for o in (opt, fresh_opt, twin):
            o.step()
    torch.testing.assert_close(w.detach()[2:3], fresh_row.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w.detach()[0:2, 1:], kept.detach(), rtol=1e-10, atol=1e-12)


def test_torch_adam_entry_steps_survive_a_checkpoint_with_cbp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    cbp = P.CBP(net, opt, replacement_rate=0.3, maturity_threshold=0)
    data = [torch.randn(16, 5) for _ in range(12)]

    def train(model, o, xs):
        for x in xs:
            o.zero_grad()
            model(x).square().mean().backward()
            o.step()

    train(net, opt, data[:6])
    clone = copy.deepcopy(net)
    clone_opt = torch.optim.Adam(clone.parameters(), lr=1e-2)
    clone_cbp = P.CBP(clone, clone_opt, replacement_rate=0.3, maturity_threshold=0,
                      trace_with=lambda: clone(data[0]))
    clone_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    clone_cbp.load_state_dict(copy.deepcopy(cbp.state_dict()))
    assert "plasticity_entry_born" in opt.state_dict()
    train(net, opt, data[6:])
    train(clone, clone_opt, data[6:])
    for a, b in zip(net.parameters(), clone.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_per_entry_steps_return_to_one_count_once_every_entry_is_settled():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(4, 3))
    opt = P.RegularizedAdam([w], lr=1e-2, betas=(0.5, 0.5))  # β^t < 2⁻²⁴ after 25 steps
    for _ in range(10):
        w.grad = torch.randn(4, 3)
        opt.step()
    reset_optimizer_entries(opt, w, (torch.tensor([1]),))
    fresh = nn.Parameter(w.detach()[1:2].clone())
    fresh_opt = torch.optim.Adam([fresh], lr=1e-2, betas=(0.5, 0.5))
    assert opt.state[w]["step"].ndim == 2
    for _ in range(130):
        g = torch.randn(4, 3)
        w.grad, fresh.grad = g.clone(), g[1:2].clone()
        opt.step()
        fresh_opt.step()
    assert opt.state[w]["step"].ndim == 0 and float(opt.state[w]["step"]) == 140
    torch.testing.assert_close(w.detach()[1:2], fresh.detach(), rtol=1e-5, atol=1e-6)


def test_per_entry_adam_groups_with_different_settings_each_match_fresh_adam():
    torch.manual_seed(0)
    a, b = (nn.Parameter(torch.randn(3, 2, dtype=torch.float64)) for _ in range(2))
    opt = P.RegularizedAdam([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01, "weight_decay": 0.1}])
    for _ in range(5):
        a.grad, b.grad = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        opt.step()
    for p in (a, b):
        reset_optimizer_entries(opt, p, (slice(None),))
    fa, fb = nn.Parameter(a.detach().clone()), nn.Parameter(b.detach().clone())
    fresh = torch.optim.Adam([{"params": [fa], "lr": 0.1}, {"params": [fb], "lr": 0.01, "weight_decay": 0.1}])
    for _ in range(4):
        ga, gb = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        a.grad, b.grad, fa.grad, fb.grad = ga, gb, ga.clone(), gb.clone()
        opt.step()
        fresh.step()
    torch.testing.assert_close(a, fa, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b, fb, rtol=1e-12, atol=1e-12)


# -- part of a model ---------------------------------------------------------------------------------------
def test_layers_restricts_a_unit_method_and_names_the_valid_layers():
    agent, x = CleanRLAgent(), torch.randn(16, 8)
    opt = P.RegularizedAdam(agent.parameters())
    cbp = P.CBP(agent, opt, replacement_rate=0.5, maturity_threshold=0, layers=["actor.2"])
    ppo_step(agent, opt, x)
    assert list(cbp.util) == ["actor.2"] and cbp.replaced["actor.2"] > 0
    with pytest.raises(ValueError, match=r"'actor\.4' is not a hidden layer; valid choices: actor\.0, actor\.2, "
                                         r"critic\.0, critic\.2"):
        P.ReDo(agent, opt, layers=["actor.4"], trace_with=lambda: agent.get_action_and_value(x))


def test_layer_norm_and_batch_norm_between_layers_are_reset_with_their_units():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(),
                        nn.Linear(5, 2))
    opt = P.RegularizedAdam(net.parameters(), lr=1e-2)
    cbp = P.CBP(net, opt, replacement_rate=0.5, maturity_threshold=0)
    x = torch.randn(32, 4)
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    assert [(h.name, [n for n, _ in h.norms]) for h in cbp.graph.hidden] == [("0", ["1"]), ("3", ["4"])]
    units = cbp.last_replaced["0"]
    assert units.numel() and (net[1].weight[units] == 1).all() and (net[1].bias[units] == 0).all()
    assert (opt.state[net[1].weight]["step"][units] == 0).all()
    units = cbp.last_replaced["3"]
    assert (net[4].running_var[units] == 1).all() and (net[4].running_mean[units] == 0).all()
    wrong = nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (2, 3)), nn.LayerNorm(3), nn.Flatten(), nn.Linear(6, 1))
    with pytest.raises(ValueError, match=r"'2' .* does not normalize '0''s 6 units one by one"):
        P.trace(wrong, lambda: wrong(x))


# -- a library that installs alone ---------------------------------------------------------------------------
BLOCKED = ("gymnasium", "stable_baselines3", "hydra", "omegaconf", "minatar", "ale_py", "rliable", "matplotlib",
           "sklearn", "tensorboard", "rich", "tqdm", "agents", "envs")


def test_plasticity_imports_and_trains_with_only_torch():
    code = f"""
import sys
sys.modules.update(dict.fromkeys({BLOCKED!r}))  # None: "import x" fails as if x were not installed
import torch, plasticity
net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
opt = plasticity.AdamO(plasticity.param_groups(net, exclude=["2"]), lr=1e-2)
cbp = plasticity.CBP(net, opt, replacement_rate=0.2, maturity_threshold=0)
for _ in range(5):
    opt.zero_grad(); net(torch.randn(8, 4)).square().mean().backward(); opt.step()
metrics = plasticity.MetricSuite(net).compute(torch.randn(32, 4))
print(plasticity.__version__, sum(cbp.replaced.values()) > 0, "dormant_tau0.1" in metrics)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    import tomllib
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert out.stdout.split() == [version, "True", "True"]


def test_pyproject_keeps_the_rl_stack_in_an_extra_and_ships_py_typed():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    core = {re.split(r"[<>=\[ ]", d)[0] for d in project["project"]["dependencies"]}
    assert core == {"torch"}, core
    assert "stable-baselines3" in " ".join(project["project"]["optional-dependencies"]["rl"])
    assert (ROOT / "plasticity" / "py.typed").exists()
    assert "py.typed" in str(project["tool"]["setuptools"]["package-data"])


def _public_objects():
    for module in (P, M):
        for name in module.__all__:
            yield f"{module.__name__}.{name}", getattr(module, name)


@pytest.mark.parametrize("qualname,obj", list(_public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_function_and_class_has_a_docstring(qualname, obj):
    if callable(obj):  # a class's __doc__ is its own (None without one), never inherited
        assert obj.__doc__ and obj.__doc__.strip(), f"{qualname} has no docstring"


# -- the docs' complete example -----------------------------------------------------------------------------
def test_library_doc_example_runs(tmp_path):
    doc = (ROOT / "docs" / "library.md").read_text()
    code = re.search(r"```python\n(# cleanrl_ppo_plasticity\.py.*?)```", doc, re.S).group(1)
    code = re.sub(r"^total_steps = .*$", "total_steps = 2048", code, count=1, flags=re.M)
    script = tmp_path / "cleanrl_ppo_plasticity.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("step ")]
    assert len(rows) == 2 and all("dormant_tau0.1" in r and "units replaced" in r for r in rows), out.stdout
    saved = torch.load(tmp_path / "ppo_plasticity.pt", weights_only=False)
    assert set(saved) == {"agent", "optimizer", "cbp"} and "plasticity" in saved["optimizer"]
