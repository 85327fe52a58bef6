"""PacGAN (Lin et al. 2018) as a wrapper around any critic: `group` consecutive examples become
one critic input, concatenated on the channel (or feature) axis, so the critic judges groups and
a generator that repeats itself is easy to spot. The step and the losses need not know: the
critic simply returns one score per group (the penalties take norms per group)."""
from __future__ import annotations

import flax.linen as nn

from jaxgan.models import layers


class Packed(nn.Module):
    critic: nn.Module
    group: int

    def setup(self):
        # The wrapped critic keeps its own parameter names (no extra level in the tree).
        nn.share_scope(self, self.critic)

    def __call__(self, x, labels=None, *, train: bool = True):
        if labels is not None:
            labels = labels.reshape(-1, self.group)  # one label per packed member
        return self.critic(layers.pack(x, self.group), labels, train=train)
