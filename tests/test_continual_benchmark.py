"""The plasticity benchmark's qualitative claims, at fixed seeds (plasticity/continual/suite.py).

Margins come from the measured runs in docs/plasticity_benchmark.md (seed 0 here; seeds 0–1 there): Adam's late
accuracy on random labels is ≈ 0.2 of its early accuracy and its regression error grows ≈ 1.6×, while AdamO and
CBP end at or above their early accuracy and at or below their early error.
"""

import pytest
import torch

from plasticity.continual import early_late, run_setting
from plasticity.continual.tasks import SlowlyChangingRegression

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32)
    return (x - x.mean(0)) / (x.std(0) + 1e-6), torch.tensor(data.target)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_random_labels_adam_loses_plasticity_adamo_and_cbp_keep_it(digits):
    early, late = early_late(run_setting("random_labels", "adam", 0, digits))
    assert late < 0.5 * early, (early, late)  # measured ≈ 0.79 → 0.18
    for method in ("adamo", "cbp"):
        early, late = early_late(run_setting("random_labels", method, 0, digits))
        assert late > early - 0.1 and late > 0.7, (method, early, late)  # measured ≈ 0.83 → 0.94 and 0.81 → 0.84


def test_slowly_changing_regression_adam_error_grows_adamo_and_cbp_do_not():
    early, late = early_late(run_setting("slowly_changing_regression", "adam", 0))
    assert late > 1.3 * early, (early, late)  # measured ≈ 0.67 → 1.07
    for method in ("adamo", "cbp"):
        early, late = early_late(run_setting("slowly_changing_regression", method, 0))
        assert late < 1.1 * early, (method, early, late)  # measured ≈ 0.73 → 0.71 and 0.65 → 0.48


def test_slowly_changing_regression_flips_one_slow_bit_per_task_and_targets_are_the_ltu_network():
    stream = SlowlyChangingRegression(bits=20, slow_bits=15, hidden=100, seed=3)
    first = next(stream.task(0, 1, 8))[0]
    second = next(stream.task(1, 1, 8))[0]
    assert int((first[0, :15] != second[0, :15]).sum()) == 1  # exactly one slow bit flipped
    assert torch.all(first[:, :15] == first[0, :15]) and torch.all(first[:, -1] == 1)  # slow bits shared, bias 1
    x = second
    h = (x @ stream.w.T > stream.theta).float()
    assert torch.allclose(stream.target(x), (h * stream.v).sum(1, keepdim=True))
    assert set(stream.w.unique().tolist()) == {-1.0, 1.0}
