"""pytest configuration shared by the unit tests and nbval (DESIGN.md, Testing)."""


def pytest_collectstart(collector):
    # nbval compares every output of a cell marked NBVAL_CHECK_OUTPUT; stderr carries progress
    # bars and library chatter that differ from machine to machine, so it is never compared.
    if collector.path is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare += ("stderr",)
