"""kdcourse.models.fastconv: a 1 x 1-output convolution as one matrix product is the convolution."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdcourse.models import transfer
from kdcourse.models.fastconv import OneByOneOutputConv2d, eligible, one_by_one_outputs_as_matmul


def _pair(cin, cout, k, stride, pad, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride, pad, bias=bias).double()
    fast = one_by_one_outputs_as_matmul(copy.deepcopy(conv))
    return conv, fast


# (in size, kernel, stride, padding): every way a map ends at 1 x 1, and a few where it does not
CASES = [(1, 3, 1, 1), (2, 3, 2, 1), (1, 1, 1, 0), (2, 1, 2, 0), (3, 3, 1, 0), (3, 3, 2, 0), (1, 3, 2, 1),
         (4, 3, 2, 1), (5, 3, 1, 1), (7, 7, 2, 3)]


@pytest.mark.parametrize("size,k,stride,pad", CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_outputs_and_gradients_equal_the_convolution(size, k, stride, pad, bias):
    conv, fast = _pair(5, 7, k, stride, pad, bias)
    x = torch.randn(4, 5, size, size, dtype=torch.double, requires_grad=True)
    y_conv, y_fast = conv(x), fast(x)
    assert y_fast.shape == y_conv.shape
    torch.testing.assert_close(y_fast, y_conv, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y_conv)
    grads_conv = torch.autograd.grad(y_conv, [x, *conv.parameters()], g)
    grads_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], g)
    for a, b in zip(grads_conv, grads_fast):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def test_the_fast_path_is_taken_only_for_one_by_one_outputs():
    conv = OneByOneOutputConv2d(3, 4, 3, 1, 1)
    assert conv.window(torch.zeros(1, 3, 1, 1)) == (1, 1)          # the centre tap alone
    assert conv.window(torch.zeros(1, 3, 2, 2)) is None             # a 2 x 2 output: nn.Conv2d's path
    strided = OneByOneOutputConv2d(3, 4, 3, 2, 1)
    assert strided.window(torch.zeros(1, 3, 2, 2)) == (2, 2)        # taps 1..2 of 0..2 see the input
    assert OneByOneOutputConv2d(3, 4, 3, 1, 0).window(torch.zeros(1, 3, 3, 3)) == (3, 3)


def test_taps_that_see_only_padding_get_zero_gradient_and_weight_decay_still_reaches_them():
    _, fast = _pair(2, 3, 3, 1, 1, False)
    x = torch.randn(2, 2, 1, 1, dtype=torch.double)
    fast(x).sum().backward()
    grad = fast.weight.grad
    assert grad[:, :, 1, 1].abs().sum() > 0
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1, 1] = False
    assert torch.equal(grad[:, :, mask], torch.zeros_like(grad[:, :, mask]))
    assert fast.weight.grad.shape == fast.weight.shape   # a full tensor: optimizers decay every tap as before


def test_only_plain_ungrouped_undilated_zero_padded_convolutions_are_converted():
    assert eligible(nn.Conv2d(3, 4, 3, padding=1))
    assert not eligible(nn.Conv2d(4, 4, 3, padding=1, groups=4))
    assert not eligible(nn.Conv2d(3, 4, 3, padding=2, dilation=2))
    assert not eligible(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))
    assert not eligible(nn.Conv2d(3, 4, 3, padding="same"))
    assert not eligible(OneByOneOutputConv2d(3, 4, 3, padding=1))   # already converted: type is not Conv2d


def test_a_resnet_keeps_its_state_dict_and_function_at_32_px():
    torch.manual_seed(0)
    plain = transfer.build("resnet18", 10, pretrained=False, normalize=False)
    torch.manual_seed(0)
    fast = transfer.build("resnet18", 10, pretrained=False, normalize=False, fast_1x1_maps=True)
    assert list(plain.state_dict()) == list(fast.state_dict())
    for a, b in zip(plain.state_dict().values(), fast.state_dict().values()):
        assert torch.equal(a, b)
    converted = [n for n, m in fast.named_modules() if isinstance(m, OneByOneOutputConv2d)]
    assert len(converted) == sum(isinstance(m, nn.Conv2d) for m in plain.modules())   # every conv is eligible
    assert not any(isinstance(m, OneByOneOutputConv2d) for m in plain.modules())
    plain.eval(), fast.eval()
    x = torch.randn(8, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-4)   # float32: rounding only
    # the same network loads the other's weights (checkpoints are shared between the two paths)
    fast.load_state_dict(plain.state_dict())


def test_float32_training_steps_stay_within_rounding_of_the_convolution():
    torch.manual_seed(1)
    plain = transfer.build("resnet18", 10, pretrained=False, normalize=False)
    fast = one_by_one_outputs_as_matmul(copy.deepcopy(plain))
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    for net in (plain, fast):
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    for a, b in zip(plain.parameters(), fast.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_a_map_smaller_than_the_kernel_fails_as_the_convolution_does():
    conv, fast = _pair(2, 3, 3, 1, 0, False)
    x = torch.randn(1, 2, 2, 2, dtype=torch.double)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        conv(x)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        fast(x)
