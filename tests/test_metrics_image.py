"""FID, KID, precision/recall, Inception Score and the class histogram on cases with known answers."""
import numpy as np
import pytest
import scipy.linalg

from jaxgan.metrics import classes, frechet, inception_score, kid, precision_recall


def _random_cov(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_matches_pytorch_fid_formula_for_non_commuting_covariances():
    # pytorch-fid: ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)), with scipy's sqrtm.
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    s1, s2 = _random_cov(rng, 8), _random_cov(rng, 8)
    reference = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))
    assert np.isclose(frechet.frechet_distance(mu1, s1, mu2, s2), reference, rtol=1e-9)


def test_frechet_closed_form_for_scaled_isotropic_gaussians():
    # N(m1, a I) vs N(m2, b I) in d dims: |m1 - m2|^2 + d (sqrt(a) - sqrt(b))^2.
    d, a, b = 5, 4.0, 0.25
    m1, m2 = np.ones(d), np.zeros(d)
    assert np.isclose(frechet.frechet_distance(m1, a * np.eye(d), m2, b * np.eye(d)),
                      d + d * (2.0 - 0.5) ** 2)


def test_identical_feature_sets_give_fid_about_zero():
    f = np.random.default_rng(1).standard_normal((2000, 32)) * 3 + 1
    mu, sigma = frechet.gaussian_stats(f)
    assert abs(frechet.frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_fid_of_samples_from_one_gaussian_is_small_and_from_two_is_known():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((20000, 4)), rng.standard_normal((20000, 4))
    assert frechet.frechet_distance(*frechet.gaussian_stats(a), *frechet.gaussian_stats(b)) < 0.01
    shifted = b + np.array([3.0, 0, 0, 0])  # mean shift of 3: FID 9
    assert abs(frechet.frechet_distance(*frechet.gaussian_stats(a), *frechet.gaussian_stats(shifted)) - 9) < 0.1


def test_stats_files_use_pytorch_fid_format(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3)
    frechet.save_stats(tmp_path / "s.npz", mu, sigma)
    with np.load(tmp_path / "s.npz") as f:
        assert sorted(f.files) == ["mu", "sigma"]
    loaded = frechet.load_stats(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded[0], mu)
    np.savez(tmp_path / "bad.npz", mean=mu)
    with pytest.raises(ValueError, match="not a pytorch-fid statistics file"):
        frechet.load_stats(tmp_path / "bad.npz")


def _kernel(x, y):
    return (x @ y.T / x.shape[1] + 1) ** 3


def test_kid_equals_the_definition():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((30, 5)), rng.standard_normal((40, 5)) + 0.5
    m, n = len(x), len(y)
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    brute = (sum(kxx[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
             + sum(kyy[i, j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
             - 2 * kxy.mean())
    assert np.isclose(kid.polynomial_mmd2(x, y), brute)


def test_kid_matches_the_population_mmd_of_discrete_distributions():
    # X uniform on 3 points, Y uniform on 2 others: the population MMD^2 is an exact finite sum,
    # and the unbiased estimator's mean over subsets converges to it.
    rng = np.random.default_rng(4)
    px, py = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)) + 0.3
    exact = _kernel(px, px).mean() + _kernel(py, py).mean() - 2 * _kernel(px, py).mean()
    x = rng.permutation(np.repeat(px, 2000, axis=0))  # exact proportions: no sampling error
    y = rng.permutation(np.repeat(py, 3000, axis=0))  # beyond the subsets' own
    mean, std = kid.kernel_inception_distance(x, y, num_subsets=50, subset_size=1000)
    assert 0 < std < 0.05 * exact
    assert abs(mean - exact) < 3 * std / np.sqrt(50)  # measured: within 0.6% for seeds 0-2


def test_kid_of_one_distribution_is_zero_on_average():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((3000, 8)), rng.standard_normal((3000, 8))
    mean, std = kid.kernel_inception_distance(x, y, num_subsets=20, subset_size=1000)
    assert abs(mean) < 3 * std / np.sqrt(20) + 1e-3  # unbiased: no positive floor
    # Point masses: MMD^2 = k(a, a) + k(b, b) - 2 k(a, b) exactly.
    a, b = np.ones((10, 2)), np.zeros((10, 2))
    assert np.isclose(kid.kernel_inception_distance(a, b, num_subsets=3)[0], 8 + 1 - 2)


def test_precision_recall_known_answers():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((600, 2))
    assert precision_recall.precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    far = real + 100.0
    assert precision_recall.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}
    # Real data in two far-apart clusters, generated only in one: realistic (precision 1) but
    # covering half the data (recall 0.5).
    two = np.concatenate([real[:300], real[300:] + 50.0])
    assert precision_recall.precision_recall(two, real[:300].copy()) == {"precision": 1.0, "recall": 0.5}
    # The same with fresh samples of the covered cluster: near 1 and near (a little under) 0.5,
    # as the k-NN balls of 300 samples miss some of the other sample's tails.
    pr = precision_recall.precision_recall(two, rng.standard_normal((300, 2)))
    assert pr["precision"] > 0.95 and 0.4 < pr["recall"] <= 0.5


def test_inception_score_extremes():
    confident = np.full((1000, 10), -30.0)
    confident[np.arange(1000), np.arange(1000) % 10] = 30.0  # one-hot, every class equally often
    assert np.isclose(inception_score.inception_score(confident, splits=10)[0], 10.0, rtol=1e-6)
    constant = np.tile(np.random.default_rng(7).standard_normal(10), (500, 1))
    assert np.isclose(inception_score.inception_score(constant)[0], 1.0)


def test_class_histogram_sees_collapse():
    uniform = classes.class_histogram(np.arange(1000) % 10, 10)
    assert uniform["classes_covered"] == 10 and abs(uniform["class_kl_uniform"]) < 1e-12
    collapsed = classes.class_histogram(np.r_[np.zeros(995, int), np.arange(5)], 10)
    # Five stray samples (1% of 1/10th's share < 10%) do not count as covering their classes.
    assert collapsed["classes_covered"] == 1
    assert collapsed["class_kl_uniform"] > 0.9 * np.log(10)
