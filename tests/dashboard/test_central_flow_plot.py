"""The Group losses page's central-flow figure: prediction and measurement per group."""

from dashboard.content import plots
from dashboard.content.series import series
from tests.analysis.test_central import with_central_flow
from tests.synthetic_result import synthetic_result


def test_the_group_losses_page_figure_draws_prediction_and_measurement():
    s = series([with_central_flow(synthetic_result())])
    assert plots.has_central_flow(s)
    fig = plots.central_flow_figure(s)
    assert len(fig.data) == 8  # four groups × (measured, predicted)
    assert not plots.has_central_flow(series([synthetic_result()]))
