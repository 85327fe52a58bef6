"""ProGAN (Karras et al. 2018): a generator and a critic grown from 4x4 to the image size by
doubling (a last step of any factor: 300x300 grows 4-8-...-256-300), each new size faded in over
`progressive.fade_images` real images, the real images faded alike; minibatch standard
deviation, equalized learning rate, pixelwise feature normalization (jaxgan/models/progan.py);
WGAN-GP with the drift term epsilon_drift * E[D(real)^2] (epsilon 0.001); Adam lr 1e-3, betas
(0, 0.99), reset when a size is added and when its fade-in ends; an EMA of the generator
draws the samples, its half-life `EMA_HALF_LIFE_IMAGES` images (StyleGAN2's `ema_kimg`; the
paper's decay 0.999 at batch 16 is 11k images too, but as a decay per step at batch 64 it is
44k), restarted from the online weights at the optimizers' resets (`progressive.reset_ema`):
averaged over a CPU-sized stage from its new layers' initialisation, it drew noise while the
online generator drew clothes (docs/results.md). The schedule is the `progressive` section
(jaxgan/progressive.py): images per stage, fade-in length, batch size per size.

    python launch.py --config=configs/progan.py:fashion_mnist --workdir=runs/progan_fashion_mnist
    python launch.py --config=configs/progan.py:flags64 --workdir=runs/progan_flags64
    python launch.py --config=configs/progan.py:pokemon --config.data.path=DIR --workdir=runs/progan_pokemon
    python launch.py --config=configs/progan.py:initials --config.data.path=DIR --workdir=runs/progan_initials
    python launch.py --config=configs/progan.py:rps --workdir=runs/progan_rps

Arguments: fashion_mnist (default; resized to 32x32 so every step doubles, 4-8-16-32; add
--config.data.image_size=0 for the native 28x28, 4-8-16-28), flags64, pokemon, initials, rps
(300x300); append `,tiny` for a seconds-long smoke run on synthetic images of the same shape
(two steps per stage, the second stage's fade-in under way at its end).

The paper shows 600k images per fade-in and 600k more per stage (1.2M per stage) at batch 16
and 512 channels; these recipes are sized for CPUs: a stage is `STAGE_EPOCHS` passes over a
dataset of the preset's size at most (30k Fashion-MNIST images), half of it fading in, with
narrower networks (`n_feature` channels at the image size, doubled towards 4x4 up to
`max_features` = 128), and `train.steps` runs the last size for two stages' worth of steps.
Measured on this 2-core machine while it was loaded by other jobs (load average about 4):
fashion_mnist's 32x32 step at batch 64 takes 4.7 s (16.2 s with n_feature 64 / max_features
256, with which a Fashion-MNIST run at batch 32 also ran 2 steps/s at 4x4 and 0.3 at 8x8).
Size a run's `progressive.stage_images` and `train.steps` to the time it has.
"""
import math

from jaxgan import progressive, recipes

EMA_HALF_LIFE_IMAGES = 10_000
DATASETS = ("fashion_mnist", "flags64", "pokemon", "initials", "rps")
# dataset -> (image size, real images per stage, batch size at each size from 4x4 on)
SETTINGS = {
    "fashion_mnist": (32, 30_000, (64,)),
    "flags64": (64, 20_000, (32,)),
    "pokemon": (64, 20_000, (32,)),
    "initials": (64, 20_000, (32,)),
    "rps": (300, 10_000, (16, 16, 16, 16, 16, 8, 4)),
}


def train_steps(c, size: int, last_stage_factor: int = 2) -> int:
    """Steps to reach the last size, plus `last_stage_factor` stages' worth at that size."""
    last = progressive.Schedule.of(c, (size,)).stages[-1]
    return last.start + last_stage_factor * math.ceil(c.progressive.stage_images / (c.train.n_critic * last.batch_size))


def get_config(arg: str = "fashion_mnist"):
    dataset, options = recipes.parse(arg, "fashion_mnist")
    if dataset not in DATASETS or options - {"tiny"}:
        raise ValueError(f"configs/progan.py:{arg}: datasets {', '.join(DATASETS)}; option tiny")
    size, stage_images, batch_sizes = SETTINGS[dataset]
    c = recipes.image_config("progan", dataset)
    c.data.image_size = size
    c.model.z_dim = 128
    c.model.latent = "normal"
    # Narrow for CPUs (the paper: 512 channels up to 32x32): the 32x32 step at batch 64 took
    # 16.2 s with n_feature 64 / max_features 256 and 4.7 s with 32 / 128 (module docstring).
    n_feature = 16 if size > 64 else 32
    c.model.generator = recipes.network("progan", "generator", n_feature=n_feature, max_features=128,
                                        start_size=4)
    c.model.critic = recipes.network("progan", "critic", n_feature=n_feature, max_features=128,
                                     start_size=4, mbstd_group=4)
    c.loss.name = "wasserstein"
    c.loss.gradient_penalty = 10.0
    c.loss.drift = 0.001
    c.train.n_critic = 1
    for player in (c.optimizer.generator, c.optimizer.critic):
        player.update(name="adam", lr=1e-3, b1=0.0, b2=0.99, eps=1e-8, schedule="constant")
    c.train.batch_size = batch_sizes[0]
    c.ema.decay = 0.5 ** (c.train.batch_size / EMA_HALF_LIFE_IMAGES)
    c.progressive.update(stage_images=stage_images, fade_images=stage_images // 2,
                         batch_sizes=batch_sizes, reset_optimizer=True, reset_ema=True)
    c.train.steps = train_steps(c, size)
    # The EMA copies the weights for the first half of the first stage (they move fast from
    # their initialisation); later sizes restart it (progressive.reset_ema).
    c.ema.start_step = progressive.Schedule.of(c, (size,)).stages[0].steps // 2
    c.viz.every_steps = 500
    if dataset == "rps":
        c.viz.num_samples = 16
        c.viz.grid_columns = 4
        c.eval.num_samples = 1_000
    if "tiny" in options:
        recipes.tiny(c, dataset)
        c.data.image_size = size
        # Two steps per stage: 4 steps train the first size, then fade the second in halfway.
        b = c.train.batch_size
        c.progressive.update(stage_images=2 * b, fade_images=2 * b, batch_sizes=())
        c.model.critic.mbstd_group = 2
        c.ema.start_step = 1
        # One width throughout: few distinct parameter shapes, so few initialisers to compile.
        c.model.generator.max_features = c.model.critic.max_features = c.model.critic.n_feature
    return c
