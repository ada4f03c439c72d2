"""The HTML report: valid HTML, valid embedded PNGs, and the series the run produced."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tuning.html import REPORT_FILE, report_data, write_report
from tuning.html.data import assign_lanes
from tuning.html.figures import params_figure, timeline_figure, timings_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input"}


def fake_summary(run_dir: Path, with_pid: bool = True) -> dict:
    """Both runners over a 3 x 2 grid (one categorical parameter), one Tune trial errored.

    The baseline runs the six trials back to back in one process; Tune runs them on two
    workers, two at a time, and one of its trials fails.
    """
    configs = [{"n_estimators": n, "max_features": f} for n in (4, 8, 16) for f in ("sqrt", 1.0)]

    def trial(runner, i, config, start, end, pid, error=None):
        mse = 0.5 - 0.01 * config["n_estimators"] + (0.02 if config["max_features"] == "sqrt" else 0.0)
        return {
            "name": f"{runner}_{i:05d}",
            "config": config,
            "status": "error" if error else "ok",
            "metrics": {} if error else {"mse": mse, "rmse": mse**0.5, "mae": mse / 2, "r2": 1 - mse},
            "duration_s": None if error else end - start,
            "started_at": None if error else 1000.0 + start,
            "ended_at": None if error else 1000.0 + end,
            "node_id": "abc123",
            "pid": (pid if with_pid else None),
            "gpu_ids": "",
            "retries": 0,
            "error": error,
            "path": None,
        }

    sequential, clock = [], 0.0
    for i, config in enumerate(configs):
        length = config["n_estimators"] / 4
        sequential.append(trial("sequential", i, config, clock, clock + length, 111))
        clock += length
    lanes = [0.0, 0.0]
    tune = []
    for i, config in enumerate(configs):
        lane = min(range(2), key=lambda k: lanes[k])
        length = config["n_estimators"] / 4
        error = "ValueError: boom" if i == 5 else None
        tune.append(trial("trial", i, config, lanes[lane], lanes[lane] + length, 200 + lane, error))
        lanes[lane] += 0 if error else length
    return {
        "experiment": "fake <exp>",
        "run_dir": str(run_dir),
        "created": "2026-11-23T07:00:00",
        "runner": "both",
        "metric": "mse",
        "mode": "min",
        "status": "incomplete",
        "best": {"runner": "tune", "trial": "trial_00004", "config": configs[4], "mse": 0.34},
        "counts": {"trials": 6, "ok": 5, "error": 1, "retries": 0},
        "timings": {
            "ray_start_s": 2.0,
            "data_load_s": 1.0,
            "sequential_s": clock,
            "tune_s": max(lanes),
            "cores": 2,
            "ideal_s": clock / 2,
            "efficiency": clock / 2 / max(lanes),
            "speedup": clock / max(lanes),
        },
        "trials": {"sequential": sequential, "tune": tune},
        "versions": {"python": "3.11", "git_commit": "deadbeef"},
    }


class _Checker(HTMLParser):
    """Checks that tags nest properly and collects images and the embedded JSON."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.data_blocks: list[str] = []
        self.in_data = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "script" and attrs.get("id") == "report-data":
            self.in_data = True
            self.data_blocks.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        self.in_data = False

    def handle_data(self, data):
        if self.in_data:
            self.data_blocks[-1] += data


def parse(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == [], f"unclosed tags: {checker.stack}"
    return checker


def decode_png(src: str):
    """The image behind a data URI, checked to be a real PNG, as an array."""
    from matplotlib.image import imread

    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    raw = base64.b64decode(src[len(prefix) :], validate=True)
    assert raw.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(raw), format="png")


def test_report_is_valid_self_contained_html_with_real_pngs(tmp_path):
    path = write_report(tmp_path, fake_summary(tmp_path))
    assert path == tmp_path / REPORT_FILE
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    page = parse(text)
    assert len(page.images) == 6  # timeline, timings, metric per parameter, importances, parallel, heat map
    for src in page.images:
        image = decode_png(src)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)
    assert "fake &lt;exp&gt;" in text and "<exp>" not in text.split("<script")[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left"


def test_embedded_data_has_one_bar_per_timed_trial_and_one_point_per_ok_trial(tmp_path):
    summary = fake_summary(tmp_path)
    page = parse(write_report(tmp_path, summary).read_text())
    (block,) = page.data_blocks
    data = json.loads(block)
    assert len(data["timeline"]["sequential"]["bars"]) == 6
    assert len(data["timeline"]["tune"]["bars"]) == 5  # the errored trial never ran
    assert data["timeline"]["sequential"]["lanes"] == ["pid 111"]
    assert data["timeline"]["tune"]["lanes"] == ["pid 200", "pid 201"]
    assert set(data["params"]) == {"n_estimators", "max_features"}
    assert len(data["params"]["n_estimators"]["tune"]) == 5
    assert len(data["params"]["max_features"]["sequential"]) == 6
    # both runners start at 0 on the same time scale
    for chart in data["timeline"].values():
        assert min(bar["start_s"] for bar in chart["bars"]) == 0


def test_gantt_figure_draws_one_bar_per_trial_in_its_workers_lane(tmp_path):
    data = report_data(fake_summary(tmp_path))
    figure = timeline_figure(data)
    seq_ax, tune_ax = figure.axes[:2]
    assert len(seq_ax.patches) == 6 and len(tune_ax.patches) == 5
    assert seq_ax.get_xlim() == tune_ax.get_xlim()  # the same time scale side by side
    lanes = sorted({round(p.get_y() + p.get_height() / 2) for p in tune_ax.patches})
    assert lanes == [0, 1]
    # a bar's extent is its trial's interval
    first = min(seq_ax.patches, key=lambda p: p.get_x())
    assert first.get_x() == 0 and first.get_width() == pytest.approx(1.0)  # n_estimators 4 -> 1 s
    assert "n_estimators" in figure.axes[-1].get_ylabel()  # the colour bar names its parameter


def test_params_figure_has_a_panel_per_parameter_with_both_runners(tmp_path):
    figure = params_figure(report_data(fake_summary(tmp_path)))
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in panels] == ["n_estimators", "max_features"]
    for ax in panels:
        counts = sorted(len(c.get_offsets()) for c in ax.collections)
        assert counts == [5, 6]  # Tune's five ok trials and the baseline's six
    assert [t.get_text() for t in panels[1].get_xticklabels()] == ["sqrt", "1.0"]  # grid order


def test_timings_figure_shows_both_runners_and_the_ideal(tmp_path):
    summary = fake_summary(tmp_path)
    figure = timings_figure(report_data(summary))
    (ax,) = figure.axes
    widths = [p.get_width() for p in ax.patches]
    t = summary["timings"]
    assert widths == pytest.approx([t["sequential_s"], t["tune_s"], t["ideal_s"]])
    assert f"speedup {t['speedup']:.2f}x" in ax.get_title()


def test_lanes_without_pids_pack_overlapping_trials_apart(tmp_path):
    tune = [t for t in fake_summary(tmp_path, with_pid=False)["trials"]["tune"] if t["started_at"]]
    lanes, labels = assign_lanes(tune)
    assert labels == ["worker 1", "worker 2"]
    for a, lane_a in zip(tune, lanes, strict=True):
        for b, lane_b in zip(tune, lanes, strict=True):
            overlap = a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"]
            assert a is b or not overlap or lane_a != lane_b


def test_report_command_rebuilds_from_disk_and_rejects_a_non_run(tmp_path):
    from tests.test_cli import cli

    (tmp_path / "summary.json").write_text(json.dumps(fake_summary(tmp_path)))
    result = cli("tuning.report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / REPORT_FILE)
    parse((tmp_path / REPORT_FILE).read_text())
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("tuning.report", str(empty))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert not (empty / REPORT_FILE).exists()


@pytest.mark.slow
def test_quick_run_writes_the_report_and_its_environment_through_the_cli(tmp_path):
    from tests.test_cli import cli

    result = cli(
        "tuning.run",
        "experiments/quick.yaml",
        "--set",
        f"storage_path={tmp_path}",
        "--set",
        "space.n_estimators=[2, 4, 6]",
        "--num-cpus",
        "2",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "quick").iterdir()
    assert f"HTML report:   {run_dir / REPORT_FILE}" in result.stdout
    assert "[sequential] 1/3 done, 2 pending | best mse " in result.stdout
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["ray"] and environment["scikit-learn"] and environment["python"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {k: environment[k] for k in ("ray", "numpy")} == {
        k: summary["versions"][k] for k in ("ray", "numpy")
    }
    page = parse((run_dir / REPORT_FILE).read_text())
    assert len(page.images) == 3
    for src in page.images:
        decode_png(src)
    data = json.loads(page.data_blocks[0])
    assert {name: len(chart["bars"]) for name, chart in data["timeline"].items()} == {
        "sequential": 3,
        "tune": 3,
    }
    assert data["timeline"]["sequential"]["lanes"] == [f"pid {summary['trials']['sequential'][0]['pid']}"]
    assert 1 <= len(data["timeline"]["tune"]["lanes"]) <= 3
    assert sorted(x for x, _ in data["params"]["n_estimators"]["tune"]) == [2, 4, 6]
    (run_dir / REPORT_FILE).unlink()
    again = cli("tuning.inspect", str(run_dir), "--html")
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"HTML report:   {run_dir / REPORT_FILE}" in again.stdout
    assert json.loads(parse((run_dir / REPORT_FILE).read_text()).data_blocks[0]) == data


def test_trial_table_has_one_row_per_configuration_best_first_errors_last(tmp_path):
    text = write_report(tmp_path, fake_summary(tmp_path)).read_text()
    table = text.split('<table class="trials">')[1].split("</table>")[0]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    assert len(rows) == 6
    mses = [float(r[3]) for r in rows[:-1]]
    assert mses == sorted(mses)  # best first
    assert rows[-1][0] == "trial_00005" and rows[-1][3] == "error: ValueError: boom"
    assert rows[-1][-2:] == ["4.00", "-"]  # the baseline's time for it; Tune has none
    assert "The trials are too small" not in text  # speedup 2x here


@pytest.mark.parametrize("runner", ["sequential", "tune"])
def test_a_single_runner_gets_one_timeline(tmp_path, runner):
    summary = fake_summary(tmp_path)
    summary["trials"] = {runner: summary["trials"][runner]}
    summary["runner"] = runner
    page = parse(write_report(tmp_path, summary).read_text())
    data = json.loads(page.data_blocks[0])
    assert list(data["timeline"]) == [runner]
    figure = timeline_figure(data)
    assert len([ax for ax in figure.axes if ax.patches]) == 1
    assert len(page.images) == 6  # 3 + importances, parallel coordinates, heat map
