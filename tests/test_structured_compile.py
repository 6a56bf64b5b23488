"""The tree relaxations under `torch.compile`: a compiled function that calls them gives the
eager values and gradients. Their edge marginals come from `torch.autograd.grad` of the log
partition function, which Dynamo cannot trace; `gibbs_marginals` runs eagerly there (a graph
break). Slow: each case compiles."""

from __future__ import annotations

import pytest
import torch
import torch._inductor.config as inductor_config

from relaxit.structured import gumbel_arborescence, gumbel_spanning_tree
from relaxit.structured import spanning_trees as st

pytestmark = pytest.mark.slow


def eager_and_compiled(fn, weights: torch.Tensor, w_out: torch.Tensor):
    """(output, gradient of <output, w_out>) of ``fn(weights)``, eager then compiled, the
    Gumbel noise drawn from the same seed (inductor's own random numbers differ from eager's
    unless ``fallback_random``)."""
    results = []
    for call in (fn, torch.compile(fn, dynamic=False)):
        torch.manual_seed(1)
        y = call(weights)
        (grad,) = torch.autograd.grad((y * w_out).sum(), weights)
        results.append((y.detach(), grad))
    return results


@pytest.mark.parametrize("relaxation", [gumbel_spanning_tree, gumbel_arborescence])
@pytest.mark.parametrize("hard", [False, True])
def test_compiled_equals_eager(relaxation, hard):
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(3, 5, 5, dtype=torch.float64, generator=gen).requires_grad_()
    w_out = torch.randn(3, 5, 5, dtype=torch.float64, generator=gen)
    with inductor_config.patch(fallback_random=True):
        (y, g), (yc, gc) = eager_and_compiled(
            lambda w: relaxation(w, 0.5, hard=hard), weights, w_out
        )
    torch.testing.assert_close(yc, y)
    torch.testing.assert_close(gc, g)
    assert g.abs().sum() > 0


def test_without_the_graph_break_compiling_fails(monkeypatch):
    """Planted: the marginals traced by Dynamo (the undecorated function) break the compiled
    call, which is why `gibbs_marginals` is excluded from compilation."""
    torch._dynamo.reset()
    monkeypatch.setattr(st, "gibbs_marginals", st.gibbs_marginals.__wrapped__)
    weights = torch.randn(2, 4, 4, dtype=torch.float64).requires_grad_()
    with pytest.raises(Exception, match="not have been used in the graph"):
        torch.compile(lambda w: gumbel_spanning_tree(w, 0.5), dynamic=False)(weights)
