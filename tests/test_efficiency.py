"""Parameter counts, sizes and FLOPs by hand; latency is measured, not asserted."""
import pytest
import torch
from torch import nn

from kdcourse import efficiency, models


def test_params_and_flops_of_a_linear_layer():
    layer = nn.Linear(10, 5)
    assert efficiency.count_params(layer) == 10 * 5 + 5
    assert efficiency.flops(layer, (10,)) == 2 * 10 * 5  # one multiply-add = 2 FLOPs


def test_course_models_by_hand():
    # student MLP 784-784-784-10: 2 * (784*784 + 784) + 784*10 + 10
    assert efficiency.count_params(models.MLP(784, (784, 784))) == 2 * (784 * 784 + 784) + 7850 == 1_238_730
    # teacher: conv 1->32 (320) + conv 32->64 (18,496) + fc 11*11*64 -> 128 (991,360) + fc 128 -> 10 (1,290)
    assert efficiency.count_params(models.TeacherCNN()) == 320 + 18_496 + 991_360 + 1_290 == 1_011_466
    # seed 004 Figs. 4-5: the student has more parameters but fewer FLOPs
    assert efficiency.flops(models.MLP(), (1, 28, 28)) == 2 * (784 * 784 * 2 + 784 * 10)
    assert efficiency.flops(models.TeacherCNN(), (1, 28, 28)) > 8 * efficiency.flops(models.MLP(), (1, 28, 28))


def test_size_mb_is_float32_bytes_plus_overhead():
    layer = nn.Linear(1000, 1000)
    assert 4.0 < efficiency.size_mb(layer) < 4.1  # 1,001,000 float32 = 4.004 MB


def test_trainable_only_and_compare():
    m = models.MLP(64, (8,))
    m.net[1].weight.requires_grad_(False)
    assert efficiency.count_params(m, trainable_only=True) == efficiency.count_params(m) - 64 * 8
    df = efficiency.compare({"a": m, "b": nn.Linear(64, 10)}, (64,), latency=True)
    assert list(df.index) == ["a", "b"]
    assert (df.ms_per_image > 0).all() and (df.ms_p90 >= df.ms_per_image).all()
