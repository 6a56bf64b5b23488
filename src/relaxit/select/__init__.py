"""``relaxit select``: learning to select k features per example (L2X-style), comparing the
k-subset gradient methods of relaxit on a supervised task (`relaxit.select.train`)."""
