"""CRD (Tian et al. 2020): the NCE loss and the memory bank worked by hand, against torchdistill's
refactoring of the authors' code, its errors, and the CRD distiller in training steps and in fit().

The hand example: feat_dim 2, identity embeddings (z = f / |f|), a bank of n_data = 4 rows per network,
K = 2 negatives, tau = 0.5, momentum 0.5, a batch of two samples (indices 1 and 3):

    z_s = (0.6, 0.8), (1, 0)          memory_s = (1, 0), (0, 1), (-1, 0), (0, -1)
    z_t = (0, 1), (1, 1) / sqrt 2     memory_t = (0.6, 0.8), (0.8, -0.6), (-0.6, -0.8), (-0.8, 0.6)
    contrast_idx = [[1, 0, 2], [3, 2, 0]]   (the positive first)
"""
import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from kdcourse import data, losses
from kdcourse.distillers import CRD, Batch, FeatureKD
from kdcourse.engine import Layers, TrainSpec, fit

MEM_S = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]
MEM_T = [[0.6, 0.8], [0.8, -0.6], [-0.6, -0.8], [-0.8, 0.6]]
F_S = [[3.0, 4.0], [1.0, 0.0]]
F_T = [[0.0, 2.0], [1.0, 1.0]]
IDX = [1, 3]
CONTRAST = [[1, 0, 2], [3, 2, 0]]
TAU, N_DATA, K = 0.5, 4, 2


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def nce_by_hand(scores, Z, k=K, n_data=N_DATA, eps=1e-7):
    """-1/B sum_i [log h_0 / (h_0 + K P_n + eps) + sum_k log K P_n / (h_k + K P_n + eps)], h = exp(.) / Z."""
    m_pn, total = k / n_data, 0.0
    for row in scores:
        h = [v / Z for v in row]
        total += math.log(h[0] / (h[0] + m_pn + eps)) + sum(math.log(m_pn / (v + m_pn + eps)) for v in h[1:])
    return -total / len(scores)


def hand_crd(momentum=0.5):
    """The example's CRDLoss: identity embeddings, the bank above."""
    crd = losses.CRDLoss(2, 2, N_DATA, feat_dim=2, n_negatives=K, nce_t=TAU, momentum=momentum)
    with torch.no_grad():
        for embed in (crd.embed_s, crd.embed_t):
            embed.weight.copy_(torch.eye(2))
            embed.bias.zero_()
        crd.memory_s.copy_(torch.tensor(MEM_S))
        crd.memory_t.copy_(torch.tensor(MEM_T))
    return crd


def call(crd, contrast=CONTRAST, idx=IDX):
    return crd(torch.tensor(F_S), torch.tensor(F_T), None if idx is None else torch.tensor(idx),
               None if contrast is None else torch.tensor(contrast))


def test_crd_loss_and_memory_update_by_hand():
    z_s, z_t = [unit(f) for f in F_S], [unit(f) for f in F_T]
    # student anchor against the teacher's rows, teacher anchor against the student's: exp(<z, m> / tau)
    out_s = [[math.exp(dot(z_s[b], MEM_T[j]) / TAU) for j in CONTRAST[b]] for b in range(2)]
    out_t = [[math.exp(dot(z_t[b], MEM_S[j]) / TAU) for j in CONTRAST[b]] for b in range(2)]
    assert out_s[0] == pytest.approx([1.0, math.exp(2.0), math.exp(-2.0)])       # <z_s0, m_t1> = 0 ...
    # Z = mean(exp) * n_data, from this first batch
    Z_s, Z_t = sum(map(sum, out_s)) / 6 * N_DATA, sum(map(sum, out_t)) / 6 * N_DATA
    assert (Z_s, Z_t) == pytest.approx((8.231733, 9.325693), abs=1e-6)
    want = nce_by_hand(out_s, Z_s) + nce_by_hand(out_t, Z_t)
    assert want == pytest.approx(3.208735 + 2.282860, abs=1e-6)                  # = 5.491595

    crd = hand_crd()
    loss = call(crd)
    assert loss.dim() == 0 and loss.item() == pytest.approx(want, rel=1e-6)
    assert crd.Z.tolist() == pytest.approx([Z_s, Z_t], rel=1e-6)
    # rows 1 and 3 of each bank: momentum 0.5 towards the batch's embeddings, then unit length
    want_s, want_t = [list(r) for r in MEM_S], [list(r) for r in MEM_T]
    for b, i in enumerate(IDX):
        want_s[i] = unit([0.5 * m + 0.5 * z for m, z in zip(MEM_S[i], z_s[b])])
        want_t[i] = unit([0.5 * m + 0.5 * z for m, z in zip(MEM_T[i], z_t[b])])
    assert want_s[1] == pytest.approx([0.3 / math.sqrt(0.9), 0.9 / math.sqrt(0.9)])   # (0, 1) + (0.6, 0.8)
    assert crd.memory_s.flatten().tolist() == pytest.approx(sum(want_s, []), abs=1e-6)
    assert crd.memory_t.flatten().tolist() == pytest.approx(sum(want_t, []), abs=1e-6)


def test_z_is_estimated_on_the_first_batch_only():
    crd = hand_crd()
    assert crd.Z.tolist() == [-1.0, -1.0]
    call(crd)
    first = crd.Z.clone()
    call(crd, contrast=[[1, 2, 2], [3, 1, 1]])           # other scores, other bank rows: Z is kept
    assert torch.equal(crd.Z, first)
    assert "Z" in crd.state_dict() and "memory_s" in crd.state_dict()     # checkpointed with the run


def test_momentum_zero_writes_the_embeddings():
    crd = hand_crd(momentum=0.0)
    call(crd)
    assert crd.memory_s[1].tolist() == pytest.approx(unit(F_S[0]))
    assert crd.memory_t[3].tolist() == pytest.approx(unit(F_T[1]))


def test_eval_mode_uses_the_pair_as_positive_and_updates_nothing():
    crd = hand_crd()
    call(crd)                                              # a training batch sets Z
    crd.eval()
    state = {k: v.clone() for k, v in crd.state_dict().items()}
    loss = call(crd, idx=None)                             # eval: indices of another data set are not used
    assert all(torch.equal(v, crd.state_dict()[k]) for k, v in state.items())
    z_s, z_t = [unit(f) for f in F_S], [unit(f) for f in F_T]
    mem_s, mem_t = crd.memory_s.tolist(), crd.memory_t.tolist()
    out_s = [[math.exp(dot(z_s[b], z_t[b]) / TAU)] + [math.exp(dot(z_s[b], mem_t[j]) / TAU)
                                                      for j in CONTRAST[b][1:]] for b in range(2)]
    out_t = [[math.exp(dot(z_s[b], z_t[b]) / TAU)] + [math.exp(dot(z_t[b], mem_s[j]) / TAU)
                                                      for j in CONTRAST[b][1:]] for b in range(2)]
    Z_s, Z_t = crd.Z.tolist()
    assert loss.item() == pytest.approx(nce_by_hand(out_s, Z_s) + nce_by_hand(out_t, Z_t), rel=1e-6)
    # out-of-range indices do not matter in eval mode; before any training batch Z is estimated, not stored
    fresh = hand_crd().eval()
    assert torch.isfinite(call(fresh, contrast=None, idx=[7, 99]))
    assert fresh.Z.tolist() == [-1.0, -1.0]


def test_random_negatives_keep_the_positive_and_update_only_the_batch_rows():
    torch.manual_seed(0)
    crd = losses.CRDLoss(5, 7, n_data=50, feat_dim=8, n_negatives=20)
    before = {k: v.clone() for k, v in crd.state_dict().items()}
    idx = torch.tensor([4, 17, 31])
    loss = crd(torch.randn(3, 5), torch.randn(3, 7), idx)
    assert torch.isfinite(loss) and loss.item() > 0
    changed = (crd.memory_s != before["memory_s"]).any(1)
    assert changed.nonzero().flatten().tolist() == [4, 17, 31]
    assert torch.allclose(crd.memory_s[idx].norm(dim=1), torch.ones(3))
    # with the same draw, the call equals the one given the negatives explicitly (positive in column 0)
    for seed in (1, 2):
        a, b = (losses.CRDLoss(5, 7, n_data=50, feat_dim=8, n_negatives=20) for _ in range(2))
        b.load_state_dict(a.state_dict())
        f_s, f_t = torch.randn(3, 5), torch.randn(3, 7)
        torch.manual_seed(seed)
        drawn = torch.randint(0, 50, (3, 21))
        drawn[:, 0] = idx
        torch.manual_seed(seed)
        assert a(f_s, f_t, idx).item() == pytest.approx(b(f_s, f_t, idx, drawn).item(), rel=1e-6)


def test_gradients_reach_both_embeddings_and_features():
    torch.manual_seed(0)
    crd = losses.CRDLoss(5, 7, n_data=40, feat_dim=8, n_negatives=10)
    f_s, f_t = torch.randn(4, 5, requires_grad=True), torch.randn(4, 7)
    crd(f_s, f_t, torch.arange(4)).backward()
    for p in (f_s, crd.embed_s.weight, crd.embed_t.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert not any(b.requires_grad for b in crd.buffers())


def test_defaults_are_the_papers():
    crd = losses.CRDLoss(64, 256, n_data=50_000)
    assert (crd.n_negatives, crd.nce_t, crd.momentum, crd.embed_s.out_features) == (16384, 0.07, 0.5, 128)
    assert crd.memory_s.shape == crd.memory_t.shape == (50_000, 128)
    # the authors' initial bank: uniform in [-sqrt(3 / 128), sqrt(3 / 128)], rows of about unit length
    bound = math.sqrt(3 / 128)
    assert crd.memory_t.abs().max() <= bound and crd.memory_t.norm(dim=1).mean().item() == pytest.approx(1, abs=0.02)


def test_crd_refuses_bad_settings_and_indices():
    with pytest.raises(ValueError, match=r"n_negatives=16384 must be below n_data=1000.*lower n_negatives"):
        losses.CRDLoss(4, 4, n_data=1000)
    with pytest.raises(ValueError, match="n_negatives=10 must be below n_data=10"):
        losses.CRDLoss(4, 4, n_data=10, n_negatives=10)
    with pytest.raises(ValueError, match="nce_t must be"):
        losses.CRDLoss(4, 4, n_data=100, n_negatives=5, nce_t=0.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        losses.CRDLoss(4, 4, n_data=100, n_negatives=5, momentum=1.0)
    with pytest.raises(ValueError, match="n_data must be a positive integer"):
        losses.CRDLoss(4, 4, n_data=0)
    crd = hand_crd()
    with pytest.raises(ValueError, match=r"idx must lie in \[0, n_data=4\).*\[1, 4\]"):
        call(crd, idx=[1, 4])
    with pytest.raises(ValueError, match=r"got values in \[-1, 1\]"):
        call(crd, idx=[-1, 1])
    with pytest.raises(ValueError, match="needs the batch's sample indices"):
        call(crd, idx=None)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        call(crd, idx=[1, 2, 3])
    with pytest.raises(ValueError, match=r"contrast_idx must be integer indices of shape \(2, n_negatives \+ 1"):
        call(crd, contrast=[[1, 0], [3, 2]])
    with pytest.raises(ValueError, match=r"contrast_idx must lie in \[0, n_data=4\)"):
        call(crd, contrast=[[1, 0, 4], [3, 2, 0]])
    with pytest.raises(ValueError, match=r"contrast_idx\[:, 0\] must be the positives"):
        call(crd, contrast=[[0, 1, 2], [3, 2, 0]])
    with pytest.raises(ValueError, match="same batch"):
        crd(torch.zeros(2, 2), torch.zeros(3, 2), torch.tensor(IDX))
    assert crd.Z.tolist() == [-1.0, -1.0] and torch.equal(crd.memory_s, torch.tensor(MEM_S))   # nothing ran


def test_crd_matches_torchdistill():
    try:
        from torchdistill.losses.mid_level import CRDLoss as TorchdistillCRD
    except ImportError as e:   # pragma: no cover - the environment's fault
        pytest.fail(f"torchdistill is a test requirement (pip install -r requirements-test.txt): {e}")
    n_data, k, dim = 64, 16, 12
    torch.manual_seed(0)
    ours = losses.CRDLoss(10, 14, n_data, feat_dim=dim, n_negatives=k)
    ref = TorchdistillCRD("s", "e", "t", input_size=dim, output_size=n_data, num_negative_samples=k,
                          num_samples=n_data, temperature=0.07, momentum=0.5)
    with torch.no_grad():
        ref.memory_v1.copy_(ours.memory_s)      # v1: the student's bank, v2: the teacher's
        ref.memory_v2.copy_(ours.memory_t)
    g = torch.Generator().manual_seed(1)
    for step in range(3):                       # the first sets Z; later ones read the updated banks
        idx = torch.randperm(n_data, generator=g)[:8]
        contrast = torch.randint(0, n_data, (8, k + 1), generator=g)
        contrast[:, 0] = idx
        f_s, f_t = torch.randn(8, 10, generator=g), torch.randn(8, 14, generator=g)
        got = ours(f_s, f_t, idx, contrast)
        z_s, z_t = ours.embed(f_s, f_t)
        out_s, out_t = ref.contrast_memory(z_s.detach(), z_t.detach(), idx, contrast)
        want = ref.compute_contrast_loss(out_s) + ref.compute_contrast_loss(out_t)
        assert got.item() == pytest.approx(want.item(), rel=1e-5), step
        assert ours.Z.tolist() == pytest.approx(ref.params[2:4].tolist(), rel=1e-6)
        assert torch.allclose(ours.memory_s, ref.memory_v1, atol=1e-6)
        assert torch.allclose(ours.memory_t, ref.memory_v2, atol=1e-6)


# --------------------------------------------------------------------------- the distiller
def Tiny(seed, width):
    """body -> head; the body's output (the penultimate features) is read by hooks."""
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(body=nn.Sequential(nn.Linear(6, width), nn.ReLU()), head=nn.Linear(width, 3)))


def random_set(n, seed, split="train"):
    g = torch.Generator().manual_seed(seed)
    return data.TensorData(torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g), "rand", split,
                           "random")


def crd_distiller(n_data=24, **weights):
    torch.manual_seed(0)
    crd = losses.CRDLoss(4, 8, n_data=n_data, feat_dim=16, n_negatives=8)
    return CRD(Tiny(0, 4), Tiny(1, 8), crd, Layers("body", "body"), **weights), crd


@pytest.mark.parametrize("weights", [{}, dict(kd=1.0), dict(ce=0.5, beta=2.0, kd=0.3, T=2.0)])
def test_crd_distiller_trains_the_student_and_the_embeddings(weights):
    d = random_set(24, 0)
    distiller, crd = crd_distiller(**weights)
    idx = torch.tensor([3, 7, 0, 21, 15, 9])
    batch = Batch(d.x[idx], d.y[idx], idx, d)
    assert {n for n, _ in distiller.named_parameters() if "embed" in n} == {
        "loss.crd.embed_s.weight", "loss.crd.embed_s.bias", "loss.crd.embed_t.weight", "loss.crd.embed_t.bias"}
    assert distiller.crd is crd
    ids = {id(p) for p in distiller.parameters()}
    assert all(id(p) in ids for p in crd.parameters())          # the optimiser gets the embeddings
    memory = crd.memory_s.clone()
    with distiller:
        _, parts = distiller(batch)
    assert set(parts) == {"total", "ce", "feat"} | ({"kd"} if weights.get("kd") else set())
    assert all(torch.isfinite(v) for v in parts.values())
    want = weights.get("ce", 1.0) * parts["ce"] + weights.get("beta", 0.8) * parts["feat"]
    if weights.get("kd"):
        want = want + weights["kd"] * parts["kd"]
    assert parts["total"].item() == pytest.approx(want.item(), rel=1e-6)
    parts["total"].backward()
    for p in (crd.embed_s.weight, crd.embed_t.weight, distiller.student.body[0].weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert (crd.memory_s != memory).any(1).nonzero().flatten().tolist() == sorted(idx.tolist())
    assert distiller.loss.idx is None                            # the indices are bound for one step only


def test_crd_distiller_with_augmented_inputs_and_defaults():
    d = random_set(24, 0)
    distiller, crd = crd_distiller()
    assert (distiller.ce, distiller.kd, distiller.beta, distiller.T) == (1.0, 0.0, 0.8, 4.0)   # RepDistiller
    idx = torch.arange(6)
    with distiller:
        _, parts = distiller(Batch(d.x[idx] + 0.1, d.y[idx], idx, None))   # the teacher runs live
    assert torch.isfinite(parts["total"])
    assert int(crd.Z.lt(0).sum()) == 0


def test_crd_distiller_refuses_other_losses_and_several_layers():
    crd = losses.CRDLoss(4, 8, n_data=24, feat_dim=16, n_negatives=8)
    with pytest.raises(TypeError, match="CRDLoss"):
        CRD(Tiny(0, 4), Tiny(1, 8), losses.RRDLoss(4, 8), Layers("body", "body"))
    with pytest.raises(ValueError, match="one layer on each side"):
        CRD(Tiny(0, 4), Tiny(1, 8), crd, Layers(["body", "head"], ["body", "head"]))
    with pytest.raises(ValueError, match="needs a teacher"):
        CRD(Tiny(0, 4), None, crd, Layers("body", "body"))
    assert isinstance(CRD(Tiny(0, 4), Tiny(1, 8), crd, Layers("body", "body")), FeatureKD)


def test_crd_name_carries_the_settings():
    names = [crd_distiller()[0].name, crd_distiller(kd=1.0)[0].name, crd_distiller(beta=0.5)[0].name,
             CRD(Tiny(0, 4), Tiny(1, 8), losses.CRDLoss(4, 8, 24, 16, n_negatives=4), Layers("body", "body")).name,
             CRD(Tiny(0, 4), Tiny(1, 8), losses.CRDLoss(4, 8, 24, 16, 8, nce_t=0.1), Layers("body", "body")).name]
    assert len(set(names)) == len(names), names
    assert names[0] == "CRD(ce=1, beta=0.8, n_negatives=8, nce_t=0.07)"


def test_fit_trains_crd_and_evaluates_on_sets_larger_than_its_bank():
    train, val = random_set(48, 0), random_set(80, 1, "val")          # val indices run past n_data = 48
    distiller, crd = crd_distiller(n_data=len(train))
    embed = crd.embed_s.weight.clone()
    result = fit(distiller, train, val, TrainSpec(epochs=2, batch_size=16), progress=False)
    h = result.history
    assert {"train_feat", "val_feat", "val_total"} <= set(h) and h[["train_total", "val_total"]].notna().all().all()
    assert not torch.equal(crd.embed_s.weight, embed)                  # trained with the student
    assert (crd.Z > 0).all()
    assert torch.allclose(crd.memory_s.norm(dim=1), torch.ones(48), atol=1e-5)   # every row written, unit length
