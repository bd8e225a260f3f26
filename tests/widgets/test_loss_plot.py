def test_log_tick_labels_are_thinned_to_fit_the_rows():
    from supertui.widgets.loss_plot import log_ticks, thin_ticks

    decades = log_ticks(1e-9, 10.0)  # eleven decades
    assert len(decades) == 11
    fitted = thin_ticks(decades, rows=8)
    assert len(fitted) <= 4 and fitted[0] == decades[0]
    assert thin_ticks(decades, rows=40) == decades
