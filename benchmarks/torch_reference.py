"""PyTorch eager references of the 64x64x3 DCGAN and WGAN-GP train steps (step_throughput.py --torch).

The networks are the pytorch/examples DCGAN (netG / netD: nz 100, ngf = ndf = 64, nc 3, batch
norm, N(0, 0.02) init, no biases), which is exactly jaxgan's `dcgan64` entry; the WGAN-GP one is
the same architecture shaped like `configs/wgan_gp.py:pokemon` (generator LeakyReLU 0.2 + dropout
0.25 after batch norm; critic with instance norm instead of batch norm, a bias on the first conv
and a linear score without sigmoid).

Each step does the same work as jaxgan's `train_step` (jaxgan/steps.py): for every critic update
a fresh latent batch goes through the generator without gradient, the critic is applied to the
real and to the fake batch (and, for WGAN-GP, to random interpolates whose input gradient is
differentiated again: `torch.autograd.grad(create_graph=True)`), then one generator update on a
fresh latent batch. pytorch/examples' own loop reuses the critic step's fake batch for the
generator update (one generator forward fewer); `reuse_fake=True` times that variant.
"""
from __future__ import annotations

import torch
from torch import nn


def _init(m: nn.Module) -> None:
    # pytorch/examples' weights_init: N(0, 0.02) convs, N(1, 0.02) batch-norm scales.
    name = type(m).__name__
    if "Conv" in name or name == "Linear":
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "Norm" in name and getattr(m, "weight", None) is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def generator(nz: int = 100, ngf: int = 64, nc: int = 3, leaky: bool = False, dropout: float = 0.0):
    """pytorch/examples netG: z (B, nz, 1, 1) -> (B, nc, 64, 64)."""
    widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
    layers, c_in = [], nz
    for i, c in enumerate(widths):
        stride, pad = (1, 0) if i == 0 else (2, 1)
        layers += [nn.ConvTranspose2d(c_in, c, 4, stride, pad, bias=False), nn.BatchNorm2d(c)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.LeakyReLU(0.2) if leaky else nn.ReLU(True))
        c_in = c
    layers += [nn.ConvTranspose2d(c_in, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def critic(ndf: int = 64, nc: int = 3, norm: str = "batch", sigmoid: bool = True):
    """pytorch/examples netD: (B, nc, 64, 64) -> (B,) scores; `norm` 'batch' or 'instance'."""
    widths = [ndf, ndf * 2, ndf * 4, ndf * 8]
    layers, c_in = [], nc
    for i, c in enumerate(widths):
        first = i == 0
        layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=first and norm == "instance"))
        if not first:
            layers.append(nn.BatchNorm2d(c) if norm == "batch" else nn.InstanceNorm2d(c, affine=True))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        c_in = c
    layers.append(nn.Conv2d(c_in, 1, 4, 1, 0, bias=norm != "batch"))  # = a linear layer on 4x4x512
    if sigmoid:
        layers.append(nn.Sigmoid())
    layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)


class DCGANStep:
    """One DCGAN step: critic update on real + fake (BCE), then generator update. Adam 2e-4 (0.5, 0.999)."""

    def __init__(self, batch: int = 64, nz: int = 100, seed: int = 0, reuse_fake: bool = False):
        torch.manual_seed(seed)
        self.nz, self.batch, self.reuse_fake = nz, batch, reuse_fake
        self.g, self.d = generator(nz), critic(norm="batch", sigmoid=True)
        self.g.apply(_init)
        self.d.apply(_init)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.real = torch.rand(batch, 3, 64, 64) * 2 - 1
        self.ones, self.zeros = torch.ones(batch), torch.zeros(batch)
        self.bce = nn.BCELoss()
        self.n_critic = 1

    def __call__(self) -> float:
        noise = torch.randn(self.batch, self.nz, 1, 1)
        self.d.zero_grad(set_to_none=True)
        err_real = self.bce(self.d(self.real), self.ones)
        err_real.backward()
        if self.reuse_fake:
            fake = self.g(noise)
            d_in = fake.detach()
        else:
            with torch.no_grad():
                d_in = self.g(noise)
        err_fake = self.bce(self.d(d_in), self.zeros)
        err_fake.backward()
        self.opt_d.step()

        self.g.zero_grad(set_to_none=True)
        if not self.reuse_fake:
            fake = self.g(torch.randn(self.batch, self.nz, 1, 1))
        err_g = self.bce(self.d(fake), self.ones)
        err_g.backward()
        self.opt_g.step()
        return float(err_g.detach())


class WGANGPStep:
    """One WGAN-GP step: `n_critic` critic updates (Wasserstein loss + 10 * gradient penalty at
    interpolates), then a generator update. Adam 1e-4 (0.5, 0.9)."""

    def __init__(self, batch: int = 64, nz: int = 100, seed: int = 0, n_critic: int = 5,
                 penalty: float = 10.0):
        torch.manual_seed(seed)
        self.nz, self.batch, self.n_critic, self.penalty = nz, batch, n_critic, penalty
        self.g = generator(nz, leaky=True, dropout=0.25)
        self.d = critic(norm="instance", sigmoid=False)
        self.g.apply(_init)
        self.d.apply(_init)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.reals = [torch.rand(batch, 3, 64, 64) * 2 - 1 for _ in range(n_critic)]

    def _gradient_penalty(self, real, fake):
        eps = torch.rand(real.shape[0], 1, 1, 1)
        x = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.d(x).sum(), x, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def __call__(self) -> float:
        for real in self.reals:
            with torch.no_grad():
                fake = self.g(torch.randn(self.batch, self.nz, 1, 1))
            self.d.zero_grad(set_to_none=True)
            loss = self.d(fake).mean() - self.d(real).mean()
            loss = loss + self.penalty * self._gradient_penalty(real, fake)
            loss.backward()
            self.opt_d.step()
        self.g.zero_grad(set_to_none=True)
        err_g = -self.d(self.g(torch.randn(self.batch, self.nz, 1, 1))).mean()
        err_g.backward()
        self.opt_g.step()
        return float(err_g.detach())


STEPS = {"dcgan": DCGANStep, "wgan_gp": WGANGPStep, "dcgan_reuse": lambda: DCGANStep(reuse_fake=True)}
