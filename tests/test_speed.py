"""grader.trainer.speed: fast_dropout draws the same Bernoulli masks as torch, is used by every dropout, and is
undone on exit."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.trainer.speed import DropoutTally, _successes, drop, fast_dropout, keep_mask


def _within(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    """count ~ Binomial(n, p) to within `sigmas` standard deviations (a false alarm about once in 3.5 million)."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# 0.01, 0.07, 0.25 and 0.9 take the gaps path (0.9 through its keeps), 0.3 and 0.5 the random-bits path.
@pytest.mark.parametrize("p", [0.01, 0.07, 0.25, 0.3, 0.5, 0.9])
def test_the_mask_drops_each_element_with_probability_p_and_scales_the_rest_as_torch_does(p):
    torch.manual_seed(0)
    mask = keep_mask((1000, 1000), p, torch.float32, torch.device("cpu"))
    dropped = int((mask == 0).sum())
    assert _within(dropped, mask.numel(), p)
    kept = mask[mask != 0]
    assert torch.equal(kept.unique(), torch.ones(1).div_(1 - p))  # torch's own scale: the same float, same rounding
    assert abs(float(mask.double().mean()) - 1.0) < 5 * math.sqrt(p / (1 - p) / mask.numel())  # unbiased


@pytest.mark.parametrize("p", [0.1, 0.3, 0.8])
def test_each_position_is_dropped_at_rate_p_independently_of_its_neighbour(p):
    # Gaps path: a drop must not make the next one likelier or rarer. Bits path: positions 2i and 2i+1 share one
    # 64-bit word. Either way the joint drop rate of neighbours must be p * p.
    draws = 2000
    torch.manual_seed(1)
    masks = torch.stack([keep_mask((64,), p, torch.float32, torch.device("cpu")) == 0 for _ in range(draws)])
    per_position = masks.sum(dim=0)
    assert all(_within(int(c), draws, p) for c in per_position)
    # A mask that repeated (or a stuck position) would spread the counts far wider than a binomial does.
    assert 0.7 < float(per_position.float().std()) / math.sqrt(draws * p * (1 - p)) < 1.3
    both = int((masks[:, 0::2] & masks[:, 1::2]).sum())
    assert _within(both, draws * 32, p * p)
    across_draws = int((masks[:-1] & masks[1:]).sum())  # and a position's draws are independent over time
    assert _within(across_draws, (draws - 1) * 64, p * p)


def test_nn_dropout_uses_the_fast_mask_in_training_only_and_the_patch_is_undone_on_exit():
    original = torch._VF.dropout
    layer, x = nn.Dropout(0.2), torch.randn(256, 64)
    with fast_dropout() as active:
        assert active and torch._VF.dropout is not original
        with torch.profiler.profile() as prof:
            y = layer(x)
        names = {e.key for e in prof.key_averages()}
        assert "aten::bernoulli_" not in names and "aten::uniform_" in names
        assert _within(int((y == 0).sum()), y.numel(), 0.2)
        assert torch.equal(y[y != 0], x[y != 0] * torch.ones(1).div_(0.8))
        layer.eval()
        assert torch.equal(layer(x), x)
    assert torch._VF.dropout is original and "dropout" not in vars(torch._VF)


def test_the_patch_is_undone_after_an_error_and_a_nested_block_leaves_it_to_the_outer_one():
    with pytest.raises(RuntimeError, match="boom"):
        with fast_dropout():
            raise RuntimeError("boom")
    assert "dropout" not in vars(torch._VF)
    with fast_dropout():
        with fast_dropout() as inner:
            assert inner
        assert "dropout" in vars(torch._VF)  # still patched: the outer block owns it
    assert "dropout" not in vars(torch._VF)
    with fast_dropout(enabled=False) as active:
        assert not active and "dropout" not in vars(torch._VF)


@pytest.mark.parametrize("layer, shape", [(nn.Dropout1d, (200, 50, 7)), (nn.Dropout2d, (200, 50, 5, 5)),
                                          (nn.Dropout3d, (200, 50, 2, 3, 3))])
def test_channel_dropout_drops_whole_channels_at_rate_p(layer, shape):
    torch.manual_seed(2)
    x = torch.rand(shape) + 0.5  # no zeros of its own
    with fast_dropout():
        y = layer(0.25)(x)
    flat = y.flatten(2)
    zeroed = (flat == 0).all(dim=2)
    assert torch.equal(zeroed, (flat == 0).any(dim=2))  # a channel is dropped whole or not at all
    assert _within(int(zeroed.sum()), zeroed.numel(), 0.25)
    kept = ~zeroed
    assert torch.equal(flat[kept], x.flatten(2)[kept] * torch.ones(1).div_(0.75))


def test_gradients_flow_through_the_same_mask_and_in_place_dropout_works():
    torch.manual_seed(3)
    x = torch.randn(50, 40, requires_grad=True)
    with fast_dropout():
        y = F.dropout(x, 0.5, training=True)
        y.sum().backward()
        assert torch.equal(x.grad, (y != 0).float() * 2)  # d(sum)/dx is the mask: 0 or 1/(1-p)
        z = torch.randn(100, 100)
        before = z.clone()
        out = nn.Dropout(0.5, inplace=True)(z)
        assert out is z and _within(int((z == 0).sum()), z.numel(), 0.5)
        assert torch.equal(z[z != 0], before[z != 0] * 2)


def test_masks_follow_torch_manual_seed():
    with fast_dropout():
        torch.manual_seed(4)
        first = F.dropout(torch.ones(1000), 0.5)
        torch.manual_seed(4)
        assert torch.equal(F.dropout(torch.ones(1000), 0.5), first)


def test_what_it_does_not_handle_goes_to_torch_unchanged():
    with fast_dropout():
        x = torch.ones(10)
        assert torch.equal(F.dropout(x, 0.0), x) and torch.equal(F.dropout(x, 1.0), torch.zeros(10))
        with pytest.raises(ValueError, match="between 0 and 1"):  # torch's own argument check still runs first
            F.dropout(x, 1.5)
        assert torch.equal(F.dropout(torch.ones(10, dtype=torch.float64), 0.3, training=False),
                           torch.ones(10, dtype=torch.float64))


def test_the_tally_counts_drawn_masks_and_says_which_calls_were_left_to_torch_and_why():
    tally = DropoutTally()
    with fast_dropout(tally=tally):
        x = torch.ones(4, 3, 5, 5)
        F.dropout(x, 0.1)
        nn.Dropout2d(0.1)(x)
        F.dropout(x, 0.1, training=False)  # no mask: not counted
        F.dropout(x, 0.0)  # nor here
        F.dropout(nn.Parameter(x), 0.1)  # a tensor subclass: torch's kernel
    assert tally.drawn == 2 and tally.left_to_torch == {"a Parameter of torch.float32": 1}
    assert tally.warning() == ("fast dropout: 1 of 3 dropout calls in training drew their masks with torch's own "
                               "kernel (1 a Parameter of torch.float32): the same masks in distribution, only slower")
    assert DropoutTally().warning() is None  # all drawn, or no dropout at all: nothing to say


def test_gaps_drawn_in_many_small_chunks_still_make_one_bernoulli_sequence():
    torch.manual_seed(5)
    hits = torch.zeros(300)
    for _ in range(400):
        positions = _successes(300, 0.1, torch.device("cpu"), chunk=3)  # about ten extra draws a call
        assert torch.equal(positions, positions.unique()) and int(positions.max()) < 300
        hits[positions] += 1
    assert _within(int(hits.sum()), 300 * 400, 0.1) and all(_within(int(h), 400, 0.1) for h in hits)


def test_a_channels_last_input_gets_a_channels_last_mask():
    torch.manual_seed(6)
    x = torch.rand(64, 16, 12, 12).add_(0.5).contiguous(memory_format=torch.channels_last)
    with fast_dropout():
        y = F.dropout(x, 0.1)
    assert y.is_contiguous(memory_format=torch.channels_last)
    for p in (0.1, 0.5):  # gaps and bits
        assert keep_mask(tuple(x.shape), p, x.dtype, x.device, x.stride()).stride() == x.stride()
    assert _within(int((y == 0).sum()), y.numel(), 0.1)
    assert torch.equal(y[y != 0], x[y != 0] * torch.ones(1).div_(0.9))


@pytest.mark.parametrize("q", [0.03, 0.2])
def test_the_gaps_between_successes_follow_the_geometric_law(q):
    # P(gap = k) = (1-q)^(k-1) q: a gap law that was off (a log of the wrong sign, a floor one off) moves these
    # counts by far more than 5 standard deviations.
    torch.manual_seed(7)
    n = 400_000
    gaps = torch.diff(_successes(n, q, torch.device("cpu")), prepend=torch.tensor([-1]))
    assert int(gaps.min()) >= 1
    for k in (1, 2, 3, 5, 10):
        assert _within(int((gaps == k).sum()), len(gaps), (1 - q) ** (k - 1) * q)
    assert _within(int((gaps > 20).sum()), len(gaps), (1 - q) ** 20)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_drop_is_the_mask_multiplication_bit_for_bit_forward_and_backward(p):
    # 0.05 and 0.2 take the maskless path (the output scaled, drops zeroed in place), 0.5 the mask's
    x = torch.randn(32, 8, 10, 10)
    torch.manual_seed(8)
    expected = x * keep_mask(tuple(x.shape), p, x.dtype, x.device)
    torch.manual_seed(8)
    leaf = x.clone().requires_grad_()
    y = drop(leaf, p)
    assert torch.equal(y, expected)
    g = torch.randn_like(x)
    y.backward(g)
    assert torch.equal(leaf.grad, g * (expected != 0) * torch.ones(1).div_(1 - p))


def test_drop_keeps_a_channels_last_layout_and_maps_a_gradient_of_another_layout_to_the_same_elements():
    torch.manual_seed(9)
    x = torch.randn(16, 8, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = drop(x, 0.1)
    assert y.is_contiguous(memory_format=torch.channels_last)
    g = torch.randn(16, 8, 6, 6)  # contiguous, unlike y: a position must still name the same element
    y.backward(g)
    assert torch.equal(x.grad, g * (y != 0) * torch.ones(1).div_(0.9))
    assert _within(int((y == 0).sum()), y.numel(), 0.1)
