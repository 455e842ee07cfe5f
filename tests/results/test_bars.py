from perf.results.bars import check_bars, format_bars


def entry(name, median, **extra):
    return {"name": name, "stats": {"median": median}, "extra_info": extra}


def test_ratios_of_medians_against_each_declared_peer():
    checks = check_bars(
        [
            entry("ours", 2.0, bars={"fast": 1.5, "slow": 0.25}),
            entry("fast", 1.0),
            entry("slow", 10.0),
            entry("single", 3.0, bar_peer="slow", bar_max_ratio=0.2),
        ]
    )
    got = {(c.name, c.peer): (c.ratio, c.passed) for c in checks}
    assert got == {
        ("ours", "fast"): (2.0, False),
        ("ours", "slow"): (0.2, True),
        ("single", "slow"): (0.3, False),
    }
    text = format_bars(checks)
    assert "MISS ours: 2.000x of fast (bar <= 1.5x)" in text
    assert "ok   ours: 0.200x of slow" in text


def test_a_missing_peer_fails_the_bar():
    (check,) = check_bars([entry("ours", 1.0, bars={"absent": 2.0})])
    assert check.ratio is None and not check.passed
    assert "peer missing" in format_bars([check])
