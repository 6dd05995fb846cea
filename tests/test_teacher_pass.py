"""The one teacher pass of a TeacherCache: faster (its conv stacks in oneDNN's layout), never different.

The committed cpu-profile numbers depend on the teacher's logits bit for bit, so the optimised pass must
return exactly what a plain ``teacher(x)`` loop returns; where it would not, the plain pass runs instead.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdcourse import config, models
from kdcourse.data import TensorData
from kdcourse.engine import TeacherCache, predict
from kdcourse.engine import cache as cache_module
from kdcourse.engine.cache import OneDNNRun, onednn_runs, same_bits

BATCH = 64


def images(n: int, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 28, 28, generator=g) - 0.1307) / 0.3081   # MNIST-like: mostly background
    x[x < 0] = -0.1307 / 0.3081
    return TensorData(x, torch.randint(0, 10, (n,), generator=g), "noise", "train", "test noise")


def plain_loop(teacher: nn.Module, x: torch.Tensor, batch_size: int = BATCH) -> torch.Tensor:
    teacher.eval()
    with torch.no_grad():
        return torch.cat([teacher(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def teachers():
    config.seed_everything(0)
    yield "TeacherCNN", models.TeacherCNN()
    config.seed_everything(1)
    yield "MuellerCNN", models.subclass.MuellerCNN()
    config.seed_everything(2)       # padding, a strided conv, a ReLU after a pool (run in place)
    yield "plain Sequential", nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2),
                                            nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 6 * 6, 10))


@pytest.mark.parametrize("n", [5 * BATCH, 5 * BATCH + 37, 3 * BATCH + 1])   # whole, ragged, a last batch of 1
@pytest.mark.parametrize("which", ["TeacherCNN", "MuellerCNN", "plain Sequential"])
def test_optimised_pass_gives_the_plain_loops_bits(which, n, monkeypatch):
    teacher = dict(teachers())[which]
    data = images(n)
    state = {k: v.clone() for k, v in teacher.state_dict().items()}
    rows, forward = [], OneDNNRun.forward
    monkeypatch.setattr(OneDNNRun, "forward", lambda self, x: rows.append(len(x)) or forward(self, x))
    got = TeacherCache(teacher, batch_size=BATCH).logits(data)
    assert same_bits(got, plain_loop(teacher, data.x))
    assert same_bits(got, predict(teacher, data, BATCH))
    assert sum(rows) == (n - 1) // BATCH * BATCH       # every full batch went through oneDNN, the last did not
    # the teacher itself is not changed: same layers, same weights
    assert not any(isinstance(m, OneDNNRun) for m in teacher.modules())
    assert teacher.state_dict().keys() == state.keys()
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in state.items())


def test_the_conv_stack_runs_in_onednn_and_shares_the_weights():
    teacher = models.TeacherCNN()
    fast = onednn_runs(teacher)
    assert fast is not teacher and isinstance(fast.features[0], OneDNNRun)
    assert [type(m) for m in fast.features[0].layers] == [type(m) for m in list(teacher.features)[:6]]
    assert fast.classifier is teacher.classifier
    assert fast.features[0].layers[3].weight is teacher.features[3].weight
    assert isinstance(teacher.features[0], nn.Conv2d)          # the original is untouched
    # nothing to gain: the module itself comes back
    mlp = models.MLP(64, (32,))
    assert onednn_runs(mlp) is mlp
    lone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())   # a conv alone is no run
    assert onednn_runs(lone) is lone
    # a layer with a hook (FeatureHooks, a user's) sees its usual tensors: it is left out of the run
    hooked = models.TeacherCNN()
    hooked.features[3].register_forward_hook(lambda m, i, o: None)
    fast = onednn_runs(hooked)
    assert [type(m) for m in fast.features[0].layers] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    assert fast.features[1] is hooked.features[3]


def test_a_pass_whose_bits_would_differ_runs_plain(monkeypatch):
    config.seed_everything(0)
    teacher = models.TeacherCNN()
    data = images(4 * BATCH + 5)

    class Off(nn.Module):             # a "fast" model one ulp-ish away from the teacher
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x) * (1 + 1e-6)

    monkeypatch.setattr(cache_module, "onednn_runs", lambda m: Off(m))
    got = TeacherCache(teacher, batch_size=BATCH).logits(data)
    assert same_bits(got, plain_loop(teacher, data.x))


def test_same_bits_is_stricter_than_equal():
    assert same_bits(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, float("nan")]))
    assert not same_bits(torch.tensor([0.0]), torch.tensor([-0.0]))
    assert torch.equal(torch.tensor([0.0]), torch.tensor([-0.0]))
    assert not same_bits(torch.zeros(2), torch.zeros(3))
    assert same_bits(torch.arange(3), torch.arange(3))
