r"""The Laplace bridge between Dirichlet and logistic-normal distributions.

Hobbhahn, Kristiadi & Hennig (2020), "Fast Predictive Uncertainty for Classification with
Bayesian Deep Networks" (arXiv:2003.01227), §3. The Laplace approximation of
$\mathrm{Dir}(\alpha)$ in the softmax basis is a Gaussian $\mathcal N(\mu, \Sigma)$ on
the logits with

$$
\mu_k = \log\alpha_k - \frac1K\sum_l \log\alpha_l,\qquad
\Sigma_{kl} = \frac{\delta_{kl}}{\alpha_k}
    - \frac1K\Big(\frac1{\alpha_k} + \frac1{\alpha_l} - \frac1K\sum_u \frac1{\alpha_u}\Big),
$$

so $\Sigma_{kk} = \frac1{\alpha_k}(1 - \frac2K) + \frac1{K^2}\sum_l \frac1{\alpha_l}$ (a
*variance*), and the inverse map is

$$
\alpha_k = \frac1{\Sigma_{kk}}\Big(1 - \frac2K + \frac{e^{\mu_k}}{K^2}\sum_l e^{-\mu_l}\Big).
$$

**Representation.** $\Sigma = P\,\mathrm{diag}(1/\alpha)\,P$ with the centering projection
$P = I - \mathbf 1\mathbf 1^\top/K$, and softmax is invariant to $P$ (it ignores
shifts along $\mathbf 1$). So the paper's Gaussian pushed through softmax is *exactly*
``LogisticNormalSoftmax(mu, alpha ** -0.5)``: the diagonal Gaussian with variances
$1/\alpha_k$, whose centered logits have covariance $\Sigma$. Using
$\sqrt{\Sigma_{kk}}$ as independent per-logit scales instead would drop the off-diagonal
$\Sigma_{kl}$ and change the law on the simplex (for $\alpha = c\,(2, 3, 5)$ the
variances of the simplex coordinates stay about 38% off the Dirichlet's however large c is,
whereas this representation's moments converge to the Dirichlet's). Conversely,
`dirichlet_approximation_fn` computes the paper's $\Sigma_{kk}$ of any
``LogisticNormalSoftmax(mu, sigma)`` as the variance of its centered logits,
$\Sigma_{kk} = \sigma_k^2(1 - \frac2K) + \frac1{K^2}\sum_l\sigma_l^2$, and applies the
paper's inverse; the round trip returns $\alpha$ exactly (up to rounding).
"""

from __future__ import annotations

import torch
from pyro.distributions import Dirichlet

from relaxit.distributions.logistic_normal import LogisticNormalSoftmax


def lognorm_approximation_fn(dirichlet: torch.distributions.Dirichlet) -> LogisticNormalSoftmax:
    r"""Laplace bridge, Dirichlet $\to$ logistic-normal (Hobbhahn et al. 2020).

    Args:
        dirichlet: a (batched) ``Dirichlet`` with concentration $\alpha$ of shape
            ``(..., K)``.

    Returns:
        ``LogisticNormalSoftmax(mu, alpha ** -0.5)`` with $\mu$ the paper's centered
        ``log alpha``: softmax of it is exactly the paper's $\mathcal N(\mu, \Sigma)$ pushed
        to the simplex (see the module docstring). Same batch and event shapes as the input.

    Examples:
        >>> from relaxit.distributions import Dirichlet
        >>> ln = lognorm_approximation_fn(Dirichlet(torch.tensor([2.0, 3.0, 5.0])))
        >>> ln.loc.shape, ln.scale.shape
        (torch.Size([3]), torch.Size([3]))
    """
    alpha = dirichlet.concentration
    log_alpha = alpha.log()
    loc = log_alpha - log_alpha.mean(-1, keepdim=True)
    return LogisticNormalSoftmax(
        loc, (-0.5 * log_alpha).exp(), validate_args=dirichlet._validate_args
    )


def centered_logit_variance(lognorm: LogisticNormalSoftmax) -> torch.Tensor:
    r"""The paper's $\Sigma_{kk}$: variances of the centered logits $z - \bar z$.

    For $z \sim \mathcal N(\mu, \mathrm{diag}(\sigma^2))$,
    $\mathrm{Var}(z_k - \bar z) = \sigma_k^2(1 - 2/K) + \sum_l \sigma_l^2 / K^2$.
    Shape ``(..., K)``.

    Examples:
        >>> centered_logit_variance(LogisticNormalSoftmax(torch.zeros(2), torch.ones(2)))
        tensor([0.5000, 0.5000])
    """
    var = lognorm.scale.square()
    k = var.shape[-1]
    return var * (1 - 2 / k) + var.sum(-1, keepdim=True) / k**2


def dirichlet_approximation_fn(lognorm: LogisticNormalSoftmax) -> Dirichlet:
    r"""Inverse Laplace bridge, logistic-normal $\to$ Dirichlet (Hobbhahn et al. 2020).

    Args:
        lognorm: a ``LogisticNormalSoftmax`` with ``loc``/``scale`` of shape ``(..., K)``.

    Returns:
        ``Dirichlet(alpha)``, ``alpha`` of shape ``(..., K)``, by the paper's inverse formula
        with $\Sigma_{kk}$ = `centered_logit_variance` (module docstring). Composed with
        `lognorm_approximation_fn` it returns the original concentration.

    Examples:
        >>> from relaxit.distributions import Dirichlet
        >>> d = Dirichlet(torch.tensor([2.0, 3.0, 5.0]))
        >>> back = dirichlet_approximation_fn(lognorm_approximation_fn(d))
        >>> torch.allclose(back.concentration, d.concentration, rtol=1e-6)
        True
    """
    mu = lognorm.loc
    k = mu.shape[-1]
    # e^{mu_k} sum_l e^{-mu_l}, computed as exp(mu_k + logsumexp(-mu)) to avoid overflow.
    spread = (mu + torch.logsumexp(-mu, dim=-1, keepdim=True)).exp()
    alpha = (1 - 2 / k + spread / k**2) / centered_logit_variance(lognorm)
    return Dirichlet(alpha, validate_args=lognorm._validate_args)


__all__ = ["centered_logit_variance", "dirichlet_approximation_fn", "lognorm_approximation_fn"]
