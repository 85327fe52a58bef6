"""The domain classifier whose features measure FID/KID/precision/recall on a dataset without
Inception weights, and whose predictions give the class histogram of generated samples.

    python -m jaxgan.classifier --config=configs/classifier.py:fashion_mnist
    python -m jaxgan.classifier --config=configs/classifier.py:mnist
    python -m jaxgan.classifier --config=configs/classifier.py:synthetic
    python -m jaxgan.classifier --config=configs/classifier.py:letters

Arguments: a dataset (`fashion_mnist`, default; `mnist`; `synthetic`, the procedural labelled
shapes; `letters`, A-Z from the system's fonts at 32x32, and `letters64` at 64x64: the sizes of
the letters recipes), optionally followed by `,tiny` (a seconds-long run for tests). The
trained classifier is cached under `classifier_dir`, keyed by the data config and image shape
(and, for letters, the font files), where a GAN run's evaluation finds it (`eval.classifier_dir`
must point at the same directory). A run that needs one that is not cached trains it with this
recipe itself; this command does it ahead of time.
"""
from jaxgan.classifier import default_config

DATASETS = {
    "fashion_mnist": dict(source="tfds", name="fashion_mnist"),
    "mnist": dict(source="tfds", name="mnist"),
    "synthetic": dict(source="synthetic", name="shapes", num_classes=10, image_size=32, channels=3),
    "letters": dict(source="letters", name="letters", image_size=32, channels=1),
    "letters64": dict(source="letters", name="letters", image_size=64, channels=1),
}


def get_config(arg: str = "fashion_mnist"):
    dataset, *options = arg.split(",") if arg else ["fashion_mnist"]
    if dataset not in DATASETS:
        raise ValueError(f"configs/classifier.py: unknown dataset {dataset!r}; choose one of {list(DATASETS)}")
    c = default_config()
    c.data.update(DATASETS[dataset])
    if "tiny" in options:
        c.model.widths = (8, 16)
        c.model.features = 32
        c.train.steps = 40
        c.train.batch_size = 64
        c.train.log_every_steps = 20
        c.num_test = 500
    return c
