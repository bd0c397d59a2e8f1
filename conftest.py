"""pytest configuration shared by the unit tests and nbval."""

import os
import re

import pytest

# The notebooks are committed with the outputs of the tiny preset. Run with another preset (the
# rehearsals of the GPU presets: KPOD_PRESET=colab-rehearsal, README "Run it"), every cell must
# still run and every assert in it hold, but no output is compared: they are another run's.
REHEARSAL = os.environ.get("KPOD_PRESET", "tiny") != "tiny"
_EVERY_OUTPUT = ("stdout", "text/plain", "text/html", "text/markdown", "text/latex", "application/json",
                 "image/png", "image/jpeg", "image/svg+xml", "transient", "application/vnd.jupyter.widget-view+json")


def pytest_collectstart(collector):
    # nbval compares every output of a cell marked NBVAL_CHECK_OUTPUT; stderr carries progress
    # bars and library chatter that differ from machine to machine, so it is never compared.
    if collector.path is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare += ("stderr",) + (_EVERY_OUTPUT if REHEARSAL else ())


def _figures(outputs) -> int:
    return sum(1 for o in outputs if any(key.startswith("image/") for key in o.get("data", {})))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # nbval-lax compares only the outputs of NBVAL_CHECK_OUTPUT cells. Every cell must still draw
    # the figures it was committed with, in that cell: under ipykernel 6 (Colab's) a figure made
    # in the cell that first imports pyplot used to appear one cell late.
    # The figures of an ipywidgets.interact go where the frontend routes them; without one,
    # ipywidgets 8.0 sends them to the cell and 8.1 does not, so those cells are not counted.
    result = yield
    cell, now = getattr(item, "cell", None), getattr(item, "test_outputs", None)
    interactive = cell is not None and re.search(r"\binteract(ive)?\(", cell.get("source", "")) is not None
    if now is not None and not interactive and not REHEARSAL and _figures(cell.get("outputs", [])) != _figures(now):
        raise AssertionError(f"{item.name} of {item.path.name} drew {_figures(now)} figure(s); the committed "
                             f"notebook has {_figures(cell.get('outputs', []))} there. If the change is meant, "
                             f"rebuild it: python notebooks/build.py {item.path.stem[:2]}")
    return result
