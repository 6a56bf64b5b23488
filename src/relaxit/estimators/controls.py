"""Control variates for RELAX: the interface of controls that use ``f``, and the paper's one."""

from __future__ import annotations

from torch import Tensor, nn


class ObjectiveControl(nn.Module):
    """Base of RELAX controls that use ``f`` at the relaxed samples.

    `RELAX` calls such a control as ``control(z, f_z)``: ``z`` the relaxed samples,
    ``(S,) + batch_shape + event_shape``, and ``f_z = f(z)``, ``(S,) + batch_shape[:m]``
    (evaluated in the same call of ``f`` as the discrete samples). It returns the control's
    value, shaped like ``f_z``. Subclasses implement ``forward(z, f_z)``.
    """

    def forward(self, z: Tensor, f_z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class RelaxControl(ObjectiveControl):
    r"""The control variate of Grathwohl et al. (2018, section 3.3) for discrete latents:

    $$
    c(z) = f(\sigma_\lambda(z)) + r_\rho(\sigma_\lambda(z)),
    $$

    the objective at the relaxed sample plus a one-hidden-layer tanh MLP ``r`` of the item's
    flattened relaxed sample (its joint variable, ``n_joint`` numbers). ``r``'s output layer
    starts at zero, so the control starts as REBAR's with ``eta = 1`` and learns a correction
    when trained on `RELAX.loss_and_variance`.

    ``n_joint`` fixes the MLP's input size now (needed before an optimiser or
    ``DistributedDataParallel`` collects the parameters); with ``None`` the MLP is built at the
    first call, in the samples' dtype and device (make one call before collecting
    ``parameters()``, as for torch's lazy modules).

    Args:
        n_joint: numbers per item of the relaxed sample (``prod(batch_shape[m:] +
            event_shape)``), or ``None`` to infer it at the first call.
        hidden: width of the MLP's hidden layer.

    Examples:
        >>> import torch
        >>> control = RelaxControl(n_joint=3)
        >>> z = torch.rand(4, 3)
        >>> control(z, z.sum(-1)).shape
        torch.Size([4])
    """

    def __init__(self, n_joint: int | None = None, hidden: int = 50) -> None:
        super().__init__()
        for name, value in (("n_joint", n_joint), ("hidden", hidden)):
            ok = value is None and name == "n_joint"
            ok = ok or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
            if not ok:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.hidden = hidden
        self.net: nn.Sequential | None = None
        if n_joint is not None:
            self._build(n_joint)

    def _build(self, n_joint: int, like: Tensor | None = None) -> None:
        kwargs = {} if like is None else {"dtype": like.dtype, "device": like.device}
        self.net = nn.Sequential(
            nn.Linear(n_joint, self.hidden, **kwargs),
            nn.Tanh(),
            nn.Linear(self.hidden, 1, **kwargs),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z: Tensor, f_z: Tensor) -> Tensor:
        items = z.reshape(*f_z.shape, -1)
        if self.net is None:
            self._build(items.shape[-1], like=items)
        n_joint = self.net[0].in_features
        if items.shape[-1] != n_joint:
            raise ValueError(
                f"RelaxControl was built for {n_joint} numbers per item, got {items.shape[-1]}"
            )
        return f_z + self.net(items).squeeze(-1)
