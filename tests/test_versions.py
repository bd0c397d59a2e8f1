"""kpod_lite.versions: installed libraries against the package's own lower bounds."""

from importlib import metadata

import pytest

from kpod_lite import versions


def test_the_bounds_are_pyprojects_and_this_environment_meets_them():
    names = {r.name: str(r.specifier) for r in versions.requirements()}
    assert names["transformers"] == ">=4.56" and names["torch"] == ">=2.1"
    found = versions.check_versions()
    assert found["torch"] == metadata.version("torch")


def test_an_old_library_is_named_with_the_command_that_fixes_it():
    def installed(name):
        return {"transformers": "4.44.2", "peft": None}.get(name, metadata.version(name) if name != "peft" else None)

    with pytest.raises(RuntimeError) as error:
        versions.check_versions(installed=installed)
    message = str(error.value)
    assert "transformers 4.44.2 is installed; kpod-lite needs transformers>=4.56" in message
    assert "peft is not installed" in message
    assert "pip install -U 'transformers>=4.56' 'peft>=0.12'" in message and "restart the runtime" in message
    assert "torch" not in message.split("Run:")[1], "torch is never reinstalled by this advice"


def test_an_old_torch_is_not_answered_with_pip():
    with pytest.raises(RuntimeError, match=r"torch 2\.0\.1 is installed.*pytorch\.org") as error:
        versions.check_versions(installed=lambda name: "2.0.1" if name == "torch" else metadata.version(name))
    assert "pip install" not in str(error.value)


def test_a_library_upgraded_after_it_was_imported_asks_for_a_restart():
    def loaded(name):
        return "4.57.0" if name == "transformers" else None

    with pytest.raises(RuntimeError) as error:
        versions.check_versions(installed=lambda name: "4.58.1" if name == "transformers" else metadata.version(name),
                                loaded=loaded)
    assert "transformers 4.58.1 is installed but 4.57.0 is the one imported" in str(error.value)
    assert "Restart the runtime" in str(error.value) and "pip" not in str(error.value)


def test_the_libraries_this_process_imported_are_the_installed_ones():
    import numpy  # noqa: F401  (imported, so the check compares it)
    import sklearn  # noqa: F401

    assert versions._loaded_version("numpy") == metadata.version("numpy")
    assert versions._loaded_version("scikit-learn") == metadata.version("scikit-learn")
    versions.check_versions()  # what this environment imported is what it has installed


# What a Colab runtime has preinstalled (ipywidgets 7.7.1, imported by its kernel at start-up):
# its front end does not render ipywidgets 8, so the install cell must leave it as it is.
def test_colabs_preinstalled_ipywidgets_is_enough_and_needs_no_restart():
    def installed(name):
        return "7.7.1" if name == "ipywidgets" else metadata.version(name)

    found = versions.check_versions(installed=installed, loaded=lambda name: "7.7.1" if name == "ipywidgets" else None)
    assert found["ipywidgets"] == "7.7.1"
    bounds = {r.name: versions.lower_bound(r) for r in versions.requirements()}
    assert str(bounds["ipywidgets"]) == "7.7", "the oldest-versions run installs 7.7"


def test_the_lower_bound_of_a_requirement():
    from packaging.requirements import Requirement

    assert str(versions.lower_bound(Requirement("ipywidgets>=7.7,<9"))) == "7.7"
    assert str(versions.lower_bound(Requirement("peft~=0.12.0"))) == "0.12.0"
    assert versions.lower_bound(Requirement("numpy")) is None and versions.lower_bound(Requirement("a<2")) is None
