"""Each regularizer's closed-form gradient against autograd (float64), and their defining properties."""

import pytest
import torch

from plasticity.regularizers import L2, Isometry, L2Init, Spectral, Wasserstein, gram_deviation

SHAPES = {"tall": (12, 5), "wide": (4, 9), "square": (6, 6), "conv": (8, 3, 3, 3), "conv_tall": (40, 2, 2, 2)}


def regularizers():
    return [
        Isometry(1.0), Isometry(1.0, target_scale=2.0), Isometry(1.0, normalize_by_dim=True),
        L2(1.0), L2Init(1.0), Spectral(1.0, init_iterations=500), Spectral(1.0, exponent=3.0, init_iterations=500),
        Wasserstein(1.0),
    ]


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("reg", regularizers(), ids=repr)
def test_closed_form_gradient_equals_autograd(reg, shape):
    torch.manual_seed(0)
    p0 = torch.randn(shape, dtype=torch.float64)
    state = reg.init_state(p0)
    p = (p0 + 0.3 * torch.randn(shape, dtype=torch.float64)).requires_grad_()
    if isinstance(reg, Spectral):
        reg._iterate(p.detach().reshape(shape[0], -1), state["spectral_u"], state["spectral_v"], 500)
    (expected,) = torch.autograd.grad(reg.penalty(p, state), p)
    got = reg.grad(p.detach(), state)
    assert got.shape == p.shape
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    assert expected.abs().sum() > 0


def test_isometry_penalty_uses_the_smaller_gram():
    w = torch.randn(7, 3, dtype=torch.float64)
    assert gram_deviation(w).shape == (3, 3) and gram_deviation(w.T).shape == (3, 3)
    torch.testing.assert_close(Isometry(1).penalty(w, {}), ((w.T @ w - torch.eye(3)) ** 2).sum())


@pytest.mark.parametrize("shape", [(10, 4), (4, 10), (6, 6)])
def test_isometries_are_fixed_points(shape):
    q = torch.linalg.qr(torch.randn(max(shape), min(shape), dtype=torch.float64)).Q
    w = q if shape[0] >= shape[1] else q.T
    assert Isometry(1.0).penalty(w, {}) < 1e-20
    assert Isometry(1.0).grad(w, {}).abs().max() < 1e-12


def test_spectral_estimate_converges_to_the_spectral_norm():
    torch.manual_seed(1)
    w = torch.randn(30, 50)
    reg = Spectral(1.0, init_iterations=0)
    state = reg.init_state(w)
    for _ in range(200):
        reg.grad(w, state)  # one power iteration per call
    sigma = reg.sigma(w, state)
    torch.testing.assert_close(sigma, torch.linalg.matrix_norm(w, 2), rtol=1e-4, atol=1e-4)
    assert reg.grad(w, state).abs().sum() > 0


def test_spectral_penalty_is_differentiable():
    w = torch.randn(5, 5, requires_grad=True)
    reg = Spectral(1.0)
    reg.penalty(w, reg.init_state(w)).backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_wasserstein_is_zero_for_a_permutation_of_the_initial_weights():
    p0 = torch.randn(50, dtype=torch.float64)
    reg = Wasserstein(1.0)
    state = reg.init_state(p0)
    perm = p0[torch.randperm(50)]
    assert reg.penalty(perm, state) == 0 and reg.grad(perm, state).abs().max() == 0
    assert L2Init(1.0).penalty(perm, L2Init(1.0).init_state(p0)) > 0  # unlike L2-Init


@pytest.mark.parametrize("make, message", [
    (lambda: Isometry(-1.0), "coef=-1.0 must be >= 0"),
    (lambda: Spectral(1.0, exponent=0.5), r"exponent \(k\)=0.5 must be >= 1"),
    (lambda: Spectral(1.0, power_iterations=0), "power_iterations=0 must be >= 1"),
    (lambda: Isometry(1.0, target_scale=0), "target_scale=0 must be > 0"),
    (lambda: L2Init(float("nan")), "coef=nan must be >= 0"),
])
def test_invalid_hyper_parameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_sortable_keys_order_like_the_floats(dtype):
    from plasticity.regularizers.wasserstein import sortable_keys
    x = torch.cat([torch.randn(1000) * 10, torch.tensor([0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0])]).to(dtype)
    keys = sortable_keys(x)
    assert torch.equal(x[keys.sort().indices], x.sort().values)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("reg", [Isometry(0.3), Isometry(0.3, target_scale=2.0, normalize_by_dim=True), L2Init(0.3)],
                         ids=repr)
def test_fused_steps_equal_the_gradient_formulas(reg, shape):
    torch.manual_seed(2)
    p = torch.randn(shape, dtype=torch.float64)
    g = torch.randn(shape, dtype=torch.float64)
    state = reg.init_state(p + 0.1)
    torch.testing.assert_close(reg.coupled_grad(p, state, g), g + reg.coef * reg.grad(p, state), rtol=1e-12,
                               atol=1e-12)
    expected = p - 0.01 * reg.grad(p, state)
    reg.decoupled_step(p, state, 0.01)
    torch.testing.assert_close(p, expected, rtol=1e-12, atol=1e-12)
