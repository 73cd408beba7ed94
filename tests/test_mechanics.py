"""The NumPy network of digitrec.mechanics against scikit-learn's own training."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec import mechanics
from digitrec.errors import UsageError

# What the seed tutorial printed (scikit-learn of its day): the first, second and
# last of its 156 "Iteration N, loss = X" lines, and its accuracy.
SEED_PRINTED = {1: "2.22958289", 2: "1.91207743", 156: "0.01348760"}
SEED_ACCURACY = 0.9159347553324969


@pytest.fixture(scope="module")
def split():
    return mechanics.tutorial_data()


@pytest.fixture(scope="module")
def numpy_run(split):
    X_train, y_train, _, _ = split
    return mechanics.train(X_train, y_train)


@pytest.fixture(scope="module")
def sklearn_fit(split):
    X_train, y_train, _, _ = split
    return mechanics.sklearn_twin().fit(X_train, y_train)


def test_first_loss_is_the_seeds(numpy_run):
    assert f"{numpy_run.losses[0]:.8f}" == "2.22958289"


def test_every_printed_seed_loss_and_the_accuracy(numpy_run, split):
    _, _, X_test, y_test = split
    assert numpy_run.n_iter == 156
    for iteration, printed in SEED_PRINTED.items():
        assert f"{numpy_run.losses[iteration - 1]:.8f}" == printed
    assert np.mean(numpy_run.predict(X_test) == y_test) == SEED_ACCURACY
    assert "2 consecutive epochs" in numpy_run.stopped


def test_all_losses_and_weights_match_sklearn(numpy_run, sklearn_fit):
    assert len(numpy_run.losses) == len(sklearn_fit.loss_curve_) == 156
    np.testing.assert_allclose(numpy_run.losses, sklearn_fit.loss_curve_, rtol=0, atol=1e-12)
    for ours, theirs in zip(
        numpy_run.network.coefs + numpy_run.network.intercepts, sklearn_fit.coefs_ + sklearn_fit.intercepts_
    ):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_seed_parameters_are_the_tutorials_network():
    import inspect

    from digitrec.tutorial import seed_network

    sklearn_params = seed_network().get_params()
    assert {k: sklearn_params[k] for k in mechanics.SEED_PARAMETERS} == mechanics.SEED_PARAMETERS
    assert sklearn_params["solver"] == "sgd" and sklearn_params["learning_rate"] == "constant"
    defaults = {k: p.default for k, p in inspect.signature(mechanics.train).parameters.items() if k in sklearn_params}
    assert defaults == mechanics.SEED_PARAMETERS


def test_epoch_loss_is_the_size_weighted_mean_of_batch_losses(numpy_run):
    # 1000 samples in batches of 200: five equal batches, so a plain mean.
    assert all(len(batches) == 5 for batches in numpy_run.batch_losses)
    assert numpy_run.losses[0] == pytest.approx(np.mean(numpy_run.batch_losses[0]), abs=1e-15)


def test_initial_weights_are_glorot_bounded(numpy_run):
    initial = numpy_run.initial
    assert initial.layer_sizes == [64, 15, 10]
    assert initial.n_parameters == 64 * 15 + 15 + 15 * 10 + 10
    for W, b in zip(initial.coefs, initial.intercepts):
        bound = mechanics.glorot_bound(*W.shape, "logistic")
        assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
        # Uniform draws fill most of the range.
        assert np.abs(W).max() > 0.9 * bound
    assert mechanics.glorot_bound(64, 15, "relu") == pytest.approx(np.sqrt(6 / 79))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_one_full_batch_step_matches_sklearn(split):
    """One SGD step on all 1000 samples (no shuffle) against MLPClassifier's one iteration."""
    X_train, y_train, _, _ = split
    estimator = mechanics.sklearn_twin(batch_size=1000, shuffle=False, max_iter=1)
    estimator.fit(X_train, y_train)
    network = mechanics.init_network([64, 15, 10], random_state=1)
    Y, _ = mechanics.one_hot(y_train)
    loss, coef_grads, intercept_grads = mechanics.loss_and_gradients(network, X_train, Y, 1e-4)
    mechanics.NesterovSGD(0.1, 0.9, True).step(network, coef_grads, intercept_grads)
    assert loss == pytest.approx(estimator.loss_curve_[0], abs=1e-12)
    for ours, theirs in zip(network.coefs + network.intercepts, estimator.coefs_ + estimator.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_nesterov_step_by_hand():
    network = mechanics.Network([np.array([[1.0]])], [np.array([0.0])])
    optimizer = mechanics.NesterovSGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    optimizer.step(network, [np.array([[2.0]])], [np.array([0.0])])
    # v = -0.1*2 = -0.2; Nesterov step = 0.9*v - 0.1*2 = -0.38
    assert network.coefs[0][0, 0] == pytest.approx(1 - 0.38)
    plain = mechanics.Network([np.array([[1.0]])], [np.array([0.0])])
    mechanics.NesterovSGD(0.1, 0.9, False).step(plain, [np.array([[2.0]])], [np.array([0.0])])
    assert plain.coefs[0][0, 0] == pytest.approx(1 - 0.2)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "parameters",
    [
        {"activation": "tanh"},
        {"activation": "relu"},
        {"activation": "identity"},
        {"nesterovs_momentum": False},
        {"momentum": 0.0, "alpha": 1.0},
        {"hidden_layer_sizes": (20, 10), "batch_size": 64},
        {"shuffle": False, "learning_rate_init": 0.01},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_other_settings_match_sklearn(split, parameters):
    X_train, y_train, _, _ = split
    parameters = {**parameters, "max_iter": 8}
    run = mechanics.train(X_train, y_train, **parameters)
    estimator = mechanics.sklearn_twin(**parameters).fit(X_train, y_train)
    assert run.n_iter == estimator.n_iter_
    np.testing.assert_allclose(run.losses, estimator.loss_curve_, rtol=0, atol=1e-12)
    for ours, theirs in zip(run.network.coefs, estimator.coefs_):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("which", ["initial", "trained"])
def test_gradient_check_agrees(numpy_run, split, which):
    X_train, y_train, _, _ = split
    network = getattr(numpy_run, "initial" if which == "initial" else "network")
    check = mechanics.gradient_check(network, X_train[:100], y_train[:100], max_parameters=300)
    assert check.n_checked == 300
    assert check.ok and check.relative_error < 1e-7, check.relative_error


def test_gradient_check_catches_a_wrong_backprop(numpy_run, split, monkeypatch):
    """Back-propagation that forgets the logistic slope must fail the check."""
    X_train, y_train, _, _ = split
    monkeypatch.setattr(mechanics, "_activation_derivative", lambda name, activated, delta: delta)
    check = mechanics.gradient_check(numpy_run.initial, X_train[:50], y_train[:50], max_parameters=200)
    assert not check.ok and check.relative_error > 1e-2


def test_gradient_check_leaves_the_network_alone(numpy_run, split):
    X_train, y_train, _, _ = split
    before = numpy_run.initial.copy()
    mechanics.gradient_check(numpy_run.initial, X_train[:20], y_train[:20], max_parameters=20)
    for a, b in zip(before.coefs, numpy_run.initial.coefs):
        np.testing.assert_array_equal(a, b)


def test_train_rejects_bad_input(split):
    X_train, y_train, _, _ = split
    with pytest.raises(UsageError, match="one label per row"):
        mechanics.train(X_train, y_train[:-1])
    bad = X_train.copy()
    bad[0, 0] = np.nan
    with pytest.raises(UsageError, match="NaN"):
        mechanics.train(bad, y_train)
    with pytest.raises(UsageError, match="unknown activation"):
        mechanics.train(X_train, y_train, activation="softsign")
    with pytest.raises(UsageError, match="batch_size"):
        mechanics.train(X_train, y_train, batch_size="large")
    with pytest.raises(UsageError, match="unknown parameter"):
        mechanics.sklearn_twin(solver_speed=3)


def test_progress_is_told_each_epoch(split):
    X_train, y_train, _, _ = split
    calls = []
    mechanics.train(X_train, y_train, max_iter=3, progress=lambda d, c, t, **i: calls.append((c, t, i["loss"])))
    assert [(c, t) for c, t, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert f"{calls[0][2]:.8f}" == "2.22958289"


# --- knobs -------------------------------------------------------------------


def test_alpha_shrinks_the_weights(split):
    runs = mechanics.knob_experiment("alpha", [1e-4, 10.0], data=split, max_iter=15)
    assert [r.value for r in runs] == [1e-4, 10.0]
    assert runs[1].weight_norm < 0.6 * runs[0].weight_norm
    assert all(len(r.loss_curve) == r.n_iter for r in runs)


def test_tiny_learning_rate_learns_slowly(split):
    runs = mechanics.knob_experiment("learning_rate_init", [0.001, 0.1], data=split, max_iter=10)
    slow, seed = runs
    assert slow.hit_max_iter
    assert slow.loss_curve[-1] > 2 * seed.loss_curve[-1]
    assert seed.test_accuracy > slow.test_accuracy


def test_hidden_size_knob_accepts_ints_and_reports_accuracy(split):
    runs = mechanics.knob_experiment("hidden_layer_sizes", [5, (30,)], data=split, max_iter=10)
    assert [r.value for r in runs] == [(5,), (30,)]
    assert [r.label for r in runs] == ["hidden_layer_sizes=5", "hidden_layer_sizes=30"]
    assert all(0.0 <= r.test_accuracy <= 1.0 and 0.0 <= r.train_accuracy <= 1.0 for r in runs)


def test_diverging_run_is_recorded_not_raised(split):
    # Raw 0..16 pixels, no squashing and a step of 0.1: the loss blows up.
    (run,) = mechanics.knob_experiment("activation", ["identity"], data=split, max_iter=10)
    assert run.loss_curve[-1] > 10 * run.loss_curve[0] or not np.isfinite(run.loss_curve[-1])


def test_knob_experiment_rejects_unknown_knobs(split):
    with pytest.raises(UsageError, match="unknown knob"):
        mechanics.knob_experiment("dropout", [0.5], data=split)
    with pytest.raises(UsageError, match="at least one value"):
        mechanics.knob_experiment("alpha", [], data=split)


def test_mechanics_figures(numpy_run, sklearn_fit, split):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from digitrec import plots

    runs = mechanics.knob_experiment("momentum", [0.0, 0.9], data=split, max_iter=5)
    check = mechanics.gradient_check(numpy_run.initial, split[0][:20], split[1][:20], max_parameters=50)
    figures = [
        plots.plot_loss_match(numpy_run.losses, sklearn_fit.loss_curve_),
        plots.plot_gradient_check(check.numeric, check.backprop, relative_error=check.relative_error),
        plots.plot_knob_runs(runs),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert "max |diff|" in figures[0].axes[1].get_title()
    assert len(figures[2].axes[0].get_lines()) == 2
    with pytest.raises(UsageError):
        plots.plot_knob_runs([])
