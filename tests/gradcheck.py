"""The trainers' analytic gradients against central finite differences (test_sample_model,
test_train_lrn): the same check for every trainer's grads(params, x, y) -> (loss, grads)."""


def assert_grads_match_finite_differences(grads, p, x, y, rng, per_param=2, h=1e-5):
    """`per_param` random entries of each float64 parameter in p: (loss(+h) - loss(-h)) / 2h equals
    the analytic gradient within 1e-6 + 1e-4 relative. Returns the analytic gradients."""
    _, g = grads(p, x, y)
    for k in p:
        for _ in range(per_param):
            i = tuple(int(rng.integers(0, s)) for s in p[k].shape)
            old = p[k][i]
            p[k][i] = old + h
            up, _ = grads(p, x, y)
            p[k][i] = old - h
            down, _ = grads(p, x, y)
            p[k][i] = old
            assert abs((up - down) / (2 * h) - g[k][i]) < 1e-6 + 1e-4 * abs(g[k][i]), k
    return g
