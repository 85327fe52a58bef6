"""Mode coverage and Fréchet distance on cases with known answers."""
import numpy as np

from jaxgan.data import toy2d
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.mode_coverage import gaussian_fit, mode_coverage


def test_perfect_samples_cover_every_mode():
    grid = toy2d.grid()
    samples = np.repeat(grid.means, 100, axis=0)
    m = mode_coverage(samples, grid.means, grid.sigma)
    assert m == {"modes_covered": 25, "num_modes": 25, "high_quality_pct": 100.0, "reverse_kl": 0.0,
                 "spread_ratio": 0.0}  # every mode collapsed to a point


def test_collapsed_samples():
    grid = toy2d.grid()
    samples = np.concatenate([np.repeat(grid.means[:1], 90, 0), np.full((10, 2), 1.0)])  # 10 far off
    m = mode_coverage(samples, grid.means, grid.sigma)
    assert m["modes_covered"] == 1
    assert np.isclose(m["high_quality_pct"], 90.0)
    assert np.isclose(m["reverse_kl"], np.log(25))


def test_three_sigma_threshold_and_data_statistics():
    ring = toy2d.ring()
    rng = np.random.default_rng(0)
    samples = ring.sample(rng, 20000)
    m = mode_coverage(samples, ring.means, ring.sigma)
    assert m["modes_covered"] == 8
    # A 2D Gaussian lies within 3 sigma with probability 1 - exp(-4.5) = 98.9%.
    assert abs(m["high_quality_pct"] - 100 * (1 - np.exp(-4.5))) < 0.5
    assert m["reverse_kl"] < 0.01
    assert abs(m["spread_ratio"] - 1.0) < 0.02  # true data has the true spread


def test_frechet_distance_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -3.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # Diagonal covariances commute: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2.
    expected = 9 + 16 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert np.isclose(frechet_distance(mu1, s1, mu2, s2), expected)
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-9


def test_frechet_distance_singular_covariance_is_finite():
    s1 = np.array([[1.0, 1.0], [1.0, 1.0]])  # rank 1
    d = frechet_distance(np.zeros(2), s1, np.zeros(2), np.eye(2))
    assert np.isfinite(d) and d > 0


def test_gaussian_fit_detects_a_collapsed_dimension():
    g = toy2d.gaussian(2)
    rng = np.random.default_rng(0)
    good = g.sample(rng, 20000)
    assert gaussian_fit(good, g.means[0], g.cov)["variance_ratio_min"] > 0.9
    collapsed = g.means[0] + np.outer(rng.standard_normal(20000), np.linalg.eigh(g.cov)[1][:, -1])
    assert gaussian_fit(collapsed, g.means[0], g.cov)["variance_ratio_min"] < 0.05


def test_density_and_coverage_on_known_point_sets():
    from jaxgan.metrics import precision_recall

    real = np.arange(20.0)[:, None]  # a line: inside it, the 5th nearest neighbour is 3 away
    # (4 or 5 at the ends), so the point 10 lies in the balls of the reals 7..13 only.
    at_ten = np.full((30, 1), 10.0)
    m = precision_recall.prdc(real, at_ten)
    assert (m["density"], m["coverage"], m["precision"]) == (7 / 5, 7 / 20, 1.0)
    far = precision_recall.prdc(real, real + 100.0)
    assert (far["density"], far["coverage"], far["precision"], far["recall"]) == (0.0, 0.0, 0.0, 0.0)
    same = precision_recall.prdc(real, real.copy())
    assert same["coverage"] == 1.0 and same["precision"] == same["recall"] == 1.0
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 3)), rng.standard_normal((150, 3)) + 0.5
    pr = precision_recall.precision_recall(a, b)
    assert {k: precision_recall.prdc(a, b)[k] for k in pr} == pr  # the same balls as precision/recall
    assert set(precision_recall.prdc(real[:5], real[:5])) == {"precision", "recall"}  # too few for k=5
