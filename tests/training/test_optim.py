"""LazyAdam: ordinary Adam where every row has a gradient; untouched rows and their moments stay put."""

from __future__ import annotations

import copy

import pytest
import torch

from gaussea.optim import LazyAdam, touched_rows


def _run(opt_cls: type, lazy: bool, grads: list[torch.Tensor]) -> torch.Tensor:
    p = torch.nn.Parameter(torch.linspace(-1, 1, 12).reshape(4, 3).clone())
    group = {"params": [p], "lr": 0.05}
    if lazy:
        group["lazy"] = True
    opt = opt_cls([group], lr=0.05)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


def test_matches_torch_adam_when_every_row_has_a_gradient() -> None:
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(4, 3, generator=gen) for _ in range(20)]
    expected = _run(torch.optim.Adam, False, grads)
    for lazy in (False, True):
        torch.testing.assert_close(_run(LazyAdam, lazy, grads), expected, rtol=1e-5, atol=1e-6)


def test_rows_without_gradient_do_not_move() -> None:
    gen = torch.Generator().manual_seed(1)
    grads = []
    for step in range(10):
        g = torch.randn(4, 3, generator=gen)
        g[step % 2 :: 2] = 0  # alternate steps touch rows 1, 3 and rows 0, 2
        grads.append(g)
    lazy = _run(LazyAdam, True, grads)
    dense = _run(LazyAdam, False, grads)
    assert not torch.allclose(lazy, dense)  # dense Adam lets every row drift on its momentum
    # a row touched only at step 0 of a two-step run ends exactly one Adam step from its start
    p = torch.nn.Parameter(torch.zeros(3, 2))
    opt = LazyAdam([{"params": [p], "lr": 0.1, "lazy": True}])
    p.grad = torch.tensor([[1.0, -2.0], [0.0, 0.0], [0.0, 0.0]])
    opt.step()
    after_one = p.detach().clone()
    p.grad = torch.tensor([[0.0, 0.0], [3.0, 3.0], [0.0, 0.0]])
    opt.step()
    torch.testing.assert_close(p.detach()[0], after_one[0])
    assert torch.all(p.detach()[2] == 0)
    assert opt.state[p]["exp_avg"][2].abs().sum() == 0
    torch.testing.assert_close(after_one[0], torch.tensor([-0.1, 0.1]), rtol=1e-4, atol=1e-6)


def test_touched_rows_are_the_rows_with_any_nonzero_entry() -> None:
    """Against the elementwise definition, with the entries a sum could get wrong: signed zeros, values that
    cancel, denormals, overflow to inf, NaN; and on 3-D gradients (rows of matrices)."""
    tiny = torch.finfo(torch.float32).tiny / 4  # a denormal
    big = torch.finfo(torch.float32).max
    grad = torch.tensor([
        [0.0, 0.0, 0.0],
        [-0.0, 0.0, -0.0],
        [1.0, -1.0, 0.0],
        [tiny, 0.0, 0.0],
        [big, big, 0.0],
        [float("nan"), 0.0, 0.0],
        [0.0, float("-inf"), 0.0],
        [0.0, 0.0, -tiny],
    ])
    expected = grad.ne(0).any(1).nonzero().squeeze(1)
    assert touched_rows(grad).tolist() == expected.tolist() == [2, 3, 4, 5, 6, 7]
    gen = torch.Generator().manual_seed(0)
    cube = torch.randn(50, 4, 3, generator=gen) * (torch.rand(50, 1, 1, generator=gen) < 0.3)
    assert torch.equal(touched_rows(cube), cube.reshape(50, -1).ne(0).any(1).nonzero().squeeze(1))


def test_state_dict_round_trip_resumes_identically() -> None:
    gen = torch.Generator().manual_seed(2)
    grads = [torch.randn(4, 3, generator=gen) * (torch.rand(4, 1, generator=gen) > 0.5) for _ in range(8)]
    p = torch.nn.Parameter(torch.ones(4, 3))
    opt = LazyAdam([{"params": [p], "lr": 0.05, "lazy": True}])
    for g in grads[:4]:
        p.grad = g.clone()
        opt.step()
    saved_p, saved_state = p.detach().clone(), copy.deepcopy(opt.state_dict())
    for g in grads[4:]:
        p.grad = g.clone()
        opt.step()
    q = torch.nn.Parameter(saved_p.clone())
    opt2 = LazyAdam([{"params": [q], "lr": 0.05, "lazy": True}])
    opt2.load_state_dict(saved_state)
    for g in grads[4:]:
        q.grad = g.clone()
        opt2.step()
    torch.testing.assert_close(q.detach(), p.detach())


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="lr"):
        LazyAdam([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
