"""plasticity.optim: equivalence to torch Adam, decoupling, fixed points, head exclusion, state round-trip."""

import copy

import pytest
import torch
from torch import nn

import plasticity as P
from plasticity.regularizers import Isometry

PRESETS = {
    "adamo": (P.AdamO, {"coef": 1e-2}),
    "iso_adam": (P.IsoAdam, {"coef": 1e-2}),
    "l2": (P.L2Adam, {"coef": 1e-2}),
    "l2_init": (P.L2InitAdam, {"coef": 1e-2}),
    "spectral": (P.SpectralAdam, {"coef": 1e-2}),
    "wasserstein": (P.WassersteinAdam, {"coef": 1e-2}),
    "shrink_perturb": (P.ShrinkPerturbAdam, {"weight_decay": 1e-2, "noise_std": 1e-3}),
    "adam_equal_betas": (P.EqualBetasAdam, {}),
}
OFF = {"adamo": {"coef": 0.0}, "iso_adam": {"coef": 0.0}, "l2": {"coef": 0.0}, "l2_init": {"coef": 0.0},
       "spectral": {"coef": 0.0}, "wasserstein": {"coef": 0.0},
       "shrink_perturb": {"weight_decay": 0.0, "noise_std": 0.0},
       "adam_equal_betas": {"betas": (0.9, 0.999)}}


def net(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.ReLU(),
                         nn.Linear(16, 5)).to(dtype)


def batches(n, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, 6, 6, generator=g, dtype=dtype), torch.randn(8, 5, generator=g, dtype=dtype))
            for _ in range(n)]


def train(model, opt, data, loss_scale=1.0):
    for x, y in data:
        opt.zero_grad()
        (loss_scale * (model(x) - y).pow(2).mean()).backward()
        opt.step()


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name", PRESETS)
def test_coefficient_zero_is_torch_adam_bit_for_bit(name, foreach):
    cls, _ = PRESETS[name]
    a, b = net(), net()
    data = batches(60)
    train(a, cls(a.parameters(), lr=3e-3, foreach=foreach, **OFF[name]), data)
    train(b, torch.optim.Adam(b.parameters(), lr=3e-3, foreach=foreach), data)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_decoupled_weight_decay_is_torch_adamw_bit_for_bit():
    a, b = net(), net()
    data = batches(40)
    train(a, P.AdamO(a.parameters(), lr=3e-3, coef=0.0, weight_decay=0.1, decoupled_weight_decay=True), data)
    train(b, torch.optim.AdamW(b.parameters(), lr=3e-3, weight_decay=0.1), data)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("loss_scale", [1e-3, 1.0, 1e3])
def test_adamo_displacement_is_lr_coef_grad_regardless_of_gradient_scale(loss_scale):
    lr, coef = 1e-2, 0.05
    a, b = net(dtype=torch.float64), net(dtype=torch.float64)
    opt_a = P.AdamO(a.parameters(), lr=lr, coef=coef)
    opt_b = torch.optim.Adam(b.parameters(), lr=lr)
    data = batches(1, dtype=torch.float64)
    train(a, opt_a, data, loss_scale)
    train(b, opt_b, data, loss_scale)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        expected = pb - lr * coef * Isometry(1.0).grad(pb, {}) if pb.ndim >= 2 else pb
        torch.testing.assert_close(pa, expected, rtol=0, atol=1e-12)
        sa, sb = opt_a.state[pa], opt_b.state[pb]
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])


def test_coupled_isometry_enters_the_moments_and_differs():
    a, b, c = net(dtype=torch.float64), net(dtype=torch.float64), net(dtype=torch.float64)
    oa, ob = P.IsoAdam(a.parameters(), lr=1e-2, coef=0.05), torch.optim.Adam(b.parameters(), lr=1e-2)
    oc = P.AdamO(c.parameters(), lr=1e-2, coef=0.05)
    data = batches(1, dtype=torch.float64)
    for m, o in ((a, oa), (b, ob), (c, oc)):
        train(m, o, data)
    w_a, w_b, w_c = a[0].weight, b[0].weight, c[0].weight
    assert not torch.equal(oa.state[w_a]["exp_avg"], ob.state[w_b]["exp_avg"])
    assert (w_a - w_c).abs().max() > 1e-6


def test_isometry_step_follows_the_current_learning_rate():
    w = nn.Parameter(torch.randn(6, 4, dtype=torch.float64))
    opt = P.AdamO([w], lr=1.0, coef=0.01)
    for lr in (1e-2, 3e-3):
        opt.param_groups[0]["lr"] = lr  # what SB3's schedule does before every update
        before = w.detach().clone()
        w.grad = torch.zeros_like(w)
        opt.step()
        torch.testing.assert_close(w.detach(), before - lr * 0.01 * Isometry(1.0).grad(before, {}), rtol=0,
                                   atol=1e-14)


@pytest.mark.parametrize("shape", [(10, 4), (4, 10), (8, 2, 3, 3)])
def test_orthogonal_weights_are_a_fixed_point_of_adamo(shape):
    w = nn.Parameter(torch.empty(shape, dtype=torch.float64))
    nn.init.orthogonal_(w)
    before = w.detach().clone()
    opt = P.AdamO([w], lr=1e-2, coef=1.0)
    for _ in range(20):
        w.grad = torch.zeros_like(w)
        opt.step()
    torch.testing.assert_close(w.detach(), before, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(20, 6), (6, 20)])
def test_isometry_steps_drive_singular_values_to_one(shape):
    torch.manual_seed(3)
    w = nn.Parameter(0.7 * torch.randn(shape))
    opt = P.AdamO([w], lr=1e-2, coef=1.0)
    before = torch.linalg.svdvals(w.detach())
    for _ in range(3000):
        w.grad = torch.zeros_like(w)
        opt.step()
    after = torch.linalg.svdvals(w.detach())
    assert (before - 1).abs().max() > 0.5
    torch.testing.assert_close(after, torch.ones_like(after), rtol=0, atol=1e-3)


@pytest.mark.parametrize("name", PRESETS)
def test_heads_and_biases_stay_untouched(name):
    cls, kwargs = PRESETS[name]
    model = net()
    head, hidden_bias = model[5], model[0].bias
    before = {id(p): p.detach().clone() for p in model.parameters()}
    opt = cls(P.param_groups(model, exclude=["5"]), lr=1e-2, **kwargs)
    for _ in range(5):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.equal(head.weight, before[id(head.weight)]) and torch.equal(head.bias, before[id(head.bias)])
    if name in ("adamo", "iso_adam", "spectral"):
        assert torch.equal(hidden_bias, before[id(hidden_bias)])  # matrix penalties never touch biases
    if name not in ("adam_equal_betas", "l2_init", "wasserstein"):  # those two sit at their minimum at init
        assert not torch.equal(model[0].weight, before[id(model[0].weight)])


@pytest.mark.parametrize("name", PRESETS)
def test_state_dict_round_trip_continues_bit_identically(name):
    cls, kwargs = PRESETS[name]
    model = net()
    opt = cls(P.param_groups(model, exclude=["5"]), lr=3e-3, **kwargs)
    data = batches(30)
    train(model, opt, data[:10])
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    train(model, opt, data[10:])

    clone = net(seed=42)  # different init: everything must come from the state dicts
    clone.load_state_dict(saved_model)
    clone_opt = cls(P.param_groups(clone, exclude=["5"]), lr=3e-3, **kwargs)
    clone_opt.load_state_dict(saved_opt)
    train(clone, clone_opt, data[10:])
    assert all(torch.equal(x, y) for x, y in zip(model.parameters(), clone.parameters(), strict=True))


def test_l2_init_pulls_toward_the_parameters_at_construction():
    w = nn.Parameter(torch.ones(3, 3))
    opt = P.L2InitAdam([w], lr=0.1, coef=10.0)
    with torch.no_grad():
        w.add_(5.0)
    for _ in range(200):
        w.grad = torch.zeros_like(w)
        opt.step()
    torch.testing.assert_close(w.detach(), torch.ones(3, 3), atol=0.05, rtol=0)


def test_shrink_and_perturb_noise_has_the_requested_scale():
    w = nn.Parameter(torch.zeros(200, 200))
    opt = P.ShrinkPerturbAdam([w], lr=0.0, weight_decay=0.0, noise_std=0.01)
    w.grad = torch.zeros_like(w)
    opt.step()
    assert abs(w.detach().std().item() - 0.01) < 5e-4


def test_several_param_groups_with_their_own_lr():
    model = net()
    groups = P.param_groups(model, exclude=["5"])
    groups[0]["lr"], groups[1]["lr"] = 1e-2, 1e-4
    opt = P.AdamO(groups, lr=1e-3, coef=1e-2)
    assert [g["lr"] for g in opt.param_groups] == [1e-2, 1e-4]
    train(model, opt, batches(3))


@pytest.mark.parametrize("make, message", [
    (lambda ps: P.AdamO(ps, lr=-1.0), "lr=-1.0 must be >= 0"),
    (lambda ps: P.AdamO(ps, coef=-0.1), "coef=-0.1 must be >= 0"),
    (lambda ps: P.SpectralAdam(ps, exponent=0.0), r"exponent \(k\)=0.0 must be >= 1"),
    (lambda ps: P.ShrinkPerturbAdam(ps, noise_std=-1.0), "noise_std=-1.0 must be >= 0"),
    (lambda ps: P.RegularizedAdam(ps, regularizers=[Isometry(1), Isometry(2)]), "distinct kinds"),
])
def test_invalid_hyper_parameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make(net().parameters())


def test_unknown_exclusion_name_raises():
    with pytest.raises(ValueError, match=r"unknown module name 'action_net' in exclude; valid names: 0, 3, 5"):
        P.param_groups(net(), exclude=["action_net"])


@pytest.mark.parametrize("name", PRESETS)
def test_presets_run_on_cuda(name, gpu_device):
    cls, kwargs = PRESETS[name]
    model = net().to(gpu_device)
    opt = cls(P.param_groups(model, exclude=["5"]), lr=1e-3, **kwargs)
    train(model, opt, [(x.to(gpu_device), y.to(gpu_device)) for x, y in batches(3)])
    assert all(p.device.type == gpu_device and torch.isfinite(p).all() for p in model.parameters())


def test_a_deep_copy_keeps_the_regularizers_and_steps_alike():
    import copy

    import plasticity
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 4)
    opt = plasticity.AdamO(net.parameters(), lr=1e-2, coef=0.1)
    net2 = copy.deepcopy(net)
    opt2 = copy.deepcopy(opt)  # its param groups hold the originals: point it at the copy's parameters
    opt2.param_groups[0]["params"] = list(net2.parameters())
    assert [type(r) for r in opt2.regularizers] == [type(r) for r in opt.regularizers]
    for model, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        model(torch.ones(2, 6)).sum().backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), net2.parameters(), strict=True))
