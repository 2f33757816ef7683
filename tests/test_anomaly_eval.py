"""On the labelled evaluation set, the detector beats the literal 3-sigma rule by a wide margin."""

from __future__ import annotations

import pathlib

import pytest

from nephos.analytics.anomaly_eval import (
    DetectorReport,
    LabelledSeries,
    evaluate,
    load_labelled_dir,
    online_detector_alerts,
    three_sigma_alerts,
)

DATA = pathlib.Path(__file__).parent / "data" / "anomaly"


@pytest.fixture(scope="module")
def dataset() -> list[LabelledSeries]:
    return load_labelled_dir(DATA)


@pytest.fixture(scope="module")
def reports(dataset: list[LabelledSeries]) -> tuple[DetectorReport, DetectorReport]:
    return (
        evaluate("online", online_detector_alerts(), dataset),
        evaluate("3-sigma", three_sigma_alerts, dataset),
    )


def test_the_set_covers_every_kind_with_labelled_incidents(dataset: list[LabelledSeries]) -> None:
    names = {s.series.label for s in dataset}
    assert len(names) == 10
    assert sum(len(s.incidents()) for s in dataset) >= 12
    assert all(s.weeks == pytest.approx(3, abs=0.01) for s in dataset)


def test_the_detector_is_far_more_precise_than_3_sigma(
    reports: tuple[DetectorReport, DetectorReport],
) -> None:
    online, baseline = reports
    assert online.precision >= 0.7
    assert online.precision >= baseline.precision + 0.3


def test_the_detector_raises_a_tiny_fraction_of_the_false_alarms(
    reports: tuple[DetectorReport, DetectorReport],
) -> None:
    online, baseline = reports
    assert online.false_alarms_per_series_week <= 0.5
    assert online.false_alarms_per_series_week * 20 <= baseline.false_alarms_per_series_week


def test_the_detector_misses_few_incidents(reports: tuple[DetectorReport, DetectorReport]) -> None:
    online, baseline = reports
    assert online.recall >= 0.9
    assert online.recall >= baseline.recall


def test_the_generator_reproduces_the_committed_files(tmp_path: pathlib.Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("anomaly_generate", DATA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUT = tmp_path
    module.main()
    for path in sorted(DATA.glob("*.csv")):
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name
