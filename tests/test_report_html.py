"""The HTML report: valid HTML, valid embedded PNGs, and the series the run produced."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tuning.reports.html import REPORT_FILE, report_data, write_report
from tuning.reports.html.figures import params_figure, timings_figure
from tuning.reports.html.gantt import timeline_figure
from tuning.reports.html.timeline import assign_lanes

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
    assert data["timeline"]["sequential"]["lanes"] == ["worker 1"]
    assert data["timeline"]["tune"]["lanes"] == ["worker 1", "worker 2"]
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
    assert [t.get_text() for t in panels[1].get_xticklabels()] == ["1", "sqrt"]  # sorted, as in the table


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
    assert len(page.images) == 4  # score against cost, timeline, timings, metric per parameter
    for src in page.images:
        decode_png(src)
    data = json.loads(page.data_blocks[0])
    assert {name: len(chart["bars"]) for name, chart in data["timeline"].items()} == {
        "sequential": 3,
        "tune": 3,
    }
    assert data["timeline"]["sequential"]["lanes"] == ["worker 1"]
    names = [p["name"] for p in data["phases"]["phases"]]
    assert names == ["start-up", "ray start", "data load", "trials", "refit", "report"][: len(names)]
    assert data["phases"]["origin"] == "the process started" and "trials" in names
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


def with_phases(summary: dict) -> dict:
    """The summary as the CLI writes it now: the process started 10 s before the first trial."""
    trials_end = 1000.0 + summary["timings"]["sequential_s"] + summary["timings"]["tune_s"]
    steps = [("start-up", 990.0, 991.5), ("ray start", 991.5, 994.0), ("data load", 994.0, 996.0)]
    steps += [("trials", 999.0, trials_end), ("refit", trials_end + 1, trials_end + 2)]
    phases = [{"name": n, "start": a, "end": b} for n, a, b in steps]
    phases.append({"name": "report", "start": trials_end + 2, "end": None})
    summary["timings"].update(process_start=990.0, run_start=991.5, phases=phases)
    return summary


def test_timeline_starts_at_the_process_start_with_the_phases_in_order(tmp_path):
    data = report_data(with_phases(fake_summary(tmp_path)))
    phases = data["phases"]["phases"]
    assert [p["name"] for p in phases] == ["start-up", "ray start", "data load", "trials", "refit", "report"]
    assert phases[0]["start_s"] == 0 and data["phases"]["origin"] == "the process started"
    starts = [p["start_s"] for p in phases]
    assert starts == sorted(starts) and phases[-1]["end_s"] is None  # the report's end is not known
    assert min(bar["start_s"] for bar in data["timeline"]["sequential"]["bars"]) == 10.0  # not 0
    figure = timeline_figure(data)
    strip, seq_ax, tune_ax = figure.axes[:3]
    assert len(strip.patches) == 5 and len(strip.lines) == 1  # five closed phases, the report's start
    assert [t.get_text().split(" ")[0] for t in strip.get_legend().get_texts()][:2] == ["start-up", "ray"]
    assert len(seq_ax.patches) == 6 and len(tune_ax.patches) == 5
    assert tune_ax.get_xlabel() == "seconds since the process started"
    assert strip.get_xlim() == tune_ax.get_xlim()


def test_an_api_run_starts_at_the_run_start(tmp_path):
    summary = with_phases(fake_summary(tmp_path))
    del summary["timings"]["process_start"]
    summary["timings"]["phases"] = summary["timings"]["phases"][1:]
    data = report_data(summary)
    assert data["phases"]["origin"] == "the run started" and data["phases"]["phases"][0]["start_s"] == 0


def test_lanes_are_named_by_worker_in_order_of_first_use_and_by_node_on_several():
    def trial(node, pid, start):
        return {"started_at": start, "ended_at": start + 1, "node_id": node, "pid": pid}

    trials = [trial("n-b", 5, 0.0), trial("n-a", 7, 0.5), trial("n-b", 6, 0.7), trial("n-b", 5, 2.0)]
    lanes, labels = assign_lanes(trials)
    assert labels == ["node 1 · worker 1", "node 2 · worker 1", "node 1 · worker 2"]
    assert lanes == [0, 1, 2, 0]
    lanes, labels = assign_lanes([trial("n", 42, 1.0), trial("n", 9, 0.0)])
    assert labels == ["worker 1", "worker 2"] and lanes == [1, 0]  # 9 started first


def continuous_summary(tmp_path: Path) -> dict:
    """Tune only, 30 trials of a continuous ``alpha`` and a categorical ``kernel``."""
    summary = fake_summary(tmp_path)
    template = summary["trials"]["tune"][0]
    kernels = ["rbf", "linear", 2, "poly", 0.5]
    summary["trials"] = {
        "tune": [
            {
                **template,
                "name": f"trial_{i:05d}",
                "config": {"alpha": 0.1 + 0.37 * ((i * 7) % 30), "kernel": kernels[i % 5]},
                "metrics": {"mse": 1.0 + (-1) ** i * 0.3 + 0.01 * i},
            }
            for i in range(30)
        ]
    }
    return summary


def test_continuous_parameters_get_a_binned_mean_line_and_categories_are_sorted(tmp_path):
    data = report_data(continuous_summary(tmp_path))
    mean = data["lines"]["alpha"]["mean"]
    assert len(mean["x"]) == 8 and mean["x"] == sorted(mean["x"])  # eight quantile bins, not 30 values
    alphas = [x for x, _ in data["params"]["alpha"]["tune"]]
    assert min(alphas) < mean["x"][0] and mean["x"][-1] < max(alphas)  # each at its bin's mean value
    assert data["lines"]["kernel"]["categories"] == [0.5, 2, "linear", "poly", "rbf"]
    figure = params_figure(data)
    alpha_ax, kernel_ax = [ax for ax in figure.axes if ax.get_visible()]
    (line,) = alpha_ax.lines
    assert list(line.get_xdata()) == mean["x"]
    assert [t.get_text() for t in kernel_ax.get_xticklabels()] == ["0.5", "2", "linear", "poly", "rbf"]


def test_pngs_are_rendered_at_twice_their_shown_size(tmp_path):
    summary = with_phases(fake_summary(tmp_path))
    text = write_report(tmp_path, summary).read_text()
    page = parse(text)
    width, height = (round(x * 100) for x in timeline_figure(report_data(summary)).get_size_inches())
    assert f'width="{width}" height="{height}"' in text  # shown at 100 dpi
    image = decode_png(page.images[0])  # the timeline
    assert image.shape[:2] == (2 * height, 2 * width)


def test_phases_record_each_step_in_order_from_the_process_start():
    from tuning.phases import Phases, process_start

    started = process_start()
    phases = Phases(started)
    with phases.timed("ray start"):
        pass
    with phases.timed("data load"):
        sorted([2, 1])
    phases.begin("report")
    record = phases.record()
    assert record["process_start"] == started < record["run_start"]
    assert [p["name"] for p in record["phases"]] == ["start-up", "ray start", "data load", "report"]
    assert record["phases"][0]["start"] == started and record["phases"][-1]["end"] is None
    ends = [p["end"] for p in record["phases"][:-1]]
    assert ends == sorted(ends) and all(p["start"] <= p["end"] for p in record["phases"][:-1])
    assert phases.fixed_costs(False)["ray_start_s"] is None and phases.fixed_costs(True)["ray_start_s"] >= 0
    api = Phases().record()  # a run from Python: no start-up phase, no process start
    assert "process_start" not in api and api["phases"] == []


def test_a_timed_phase_ends_with_its_block_even_when_the_block_raises(monkeypatch):
    from tuning import phases as module
    from tuning.phases import Phases

    clock = iter([10.0, 11.0, 12.5, 20.0, 21.5])
    monkeypatch.setattr(module.time, "time", lambda: next(clock))
    phases = Phases()  # the run starts at 10.0
    with phases.timed("data load"):
        assert phases.phases == [{"name": "data load", "start": 11.0, "end": None}]  # open inside
    assert phases.seconds("data load") == 1.5
    with pytest.raises(ValueError, match="bad rows"), phases.timed("refit"):
        raise ValueError("bad rows")
    assert phases.phases[-1] == {"name": "refit", "start": 20.0, "end": 21.5}
    assert phases.seconds("refit") == 1.5


def test_a_resumed_run_counts_from_its_first_sessions_first_trial(tmp_path):
    summary = with_phases(fake_summary(tmp_path))
    summary["timings"]["process_start"] = 1005.0  # this session started after the first trials
    summary["timings"]["phases"] = [{"name": "trials", "start": 1006.0, "end": 1030.0}]
    data = report_data(summary)
    assert data["phases"]["origin"].startswith("the first trial started")
    bars = [bar for chart in data["timeline"].values() for bar in chart["bars"]]
    assert min(bar["start_s"] for bar in bars) == 0
    assert min(p["start_s"] for p in data["phases"]["phases"]) > 0


def test_result_plot_gives_the_reports_figures_shown_inline(tmp_path):
    from matplotlib.figure import Figure

    from tuning.reports.result import result_of

    summary = with_phases(fake_summary(tmp_path))
    figures = result_of(tmp_path, summary).plot()
    page = write_report(tmp_path, summary).read_text()
    headings = re.findall(r"<h2>([^<]*)</h2>\s*<img ", page)  # each figure's, in the page's order
    assert figures.titles == [html.unescape(h) for h in headings]
    assert len(figures) == len(parse(page).images) >= 5 and all(isinstance(f, Figure) for f in figures)
    inline = figures._repr_html_()  # what a notebook shows for `result.plot()`
    assert inline.count("<img ") == len(figures) and inline.count("<h4>") == len(figures)
    assert inline.count("data:image/png;base64,") == len(figures)
