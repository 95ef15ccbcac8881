"""Issue 33: names that cannot escape the runs folder, duplicates, bad files, busy ports, read-only and
full places: each refused or reported in one line naming the file, key, device or port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cyclegan.cli.main import main
from cyclegan.spec.config import ConfigError
from cyclegan.spec.study import load_study

HYPOTHESIS = {"name": "H2", "claim": "IN removes the grid", "factor": "generator.norm", "levels": ["instance", "none"],
              "metric": "eval/grid_score", "direction": "lower", "threshold": 1.0}


def _study(tmp_path: Path, file: str = "study.yaml", **changes) -> Path:
    spec = {"base": {"data": {"image_size": 32, "holdout": 4}, "generator": {"encoder_weights": "random"}},
            "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0], "hypotheses": [dict(HYPOTHESIS)], **changes}
    path = tmp_path / file
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


# -- finding 1: study names --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../escaped", "../other/tiny", "a/b", "..", ".hidden", "x" * 300, "sp ace", "-dash"])
def test_unsafe_study_names_are_refused_before_anything_is_created(tmp_path, name):
    path = _study(tmp_path, file="bad.yaml", name=name)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert "bad.yaml" in str(err.value) and "name" in str(err.value) and name[:40] in str(err.value)
    runs = tmp_path / "runs"
    code, output = _cli("ablate", path, "--runs-dir", runs, "--no-progress")
    assert code == 2 and "Traceback" not in output and "name" in output
    assert not runs.exists() and not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


def test_a_safe_name_and_the_file_stem_are_accepted(tmp_path):
    assert load_study(_study(tmp_path, file="my-study_1.yaml")).name == "my-study_1"
    assert load_study(_study(tmp_path, file="named.yaml", name="v2.quick")).name == "v2.quick"


# -- finding 3: duplicates ---------------------------------------------------------------------------

def test_repeated_seed_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"dup\.yaml: seeds: seed 0 is listed more than once"):
        load_study(_study(tmp_path, file="dup.yaml", seeds=[0, 0]))


def test_two_hypotheses_of_one_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"dup\.yaml: hypotheses: two hypotheses are named 'H2'"):
        load_study(_study(tmp_path, file="dup.yaml", hypotheses=[dict(HYPOTHESIS), {**HYPOTHESIS, "metric": "eval/edge_sigma"}]))


# -- finding 4: binary study and extends files -------------------------------------------------------

def test_binary_study_or_extends_file_is_named(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match=r"binary\.yaml: not a UTF-8 text file"):
        load_study(binary)
    top = _study(tmp_path, file="top.yaml", extends="binary.yaml")
    with pytest.raises(ConfigError, match=r"binary\.yaml: not a UTF-8 text file"):
        load_study(top)
    code, output = _cli("report", top, "--runs-dir", tmp_path / "runs")
    assert code == 2 and "binary.yaml" in output and "Traceback" not in output


# -- finding 4: one image reader; read-only output places --------------------------------------------

def _bomb_png(path: Path, side: int = 20000) -> Path:
    """A small PNG file whose header claims side x side pixels (CRC fixed, so Pillow accepts the header)."""
    import struct
    import zlib

    from PIL import Image

    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", side, side)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


def _images(folder: Path, count: int = 2) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (40, 40), (i * 40, 90, 20)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture()
def read_only_dir(tmp_path):
    """A folder nothing can be written to, even by root: a read-only tmpfs when mounting is allowed,
    else (not root) a folder without write permission."""
    import os
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("root, and mounting a read-only tmpfs is not allowed here")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=False)  # this process may still hold a store file open


def test_translate_refuses_an_image_over_the_pixel_guard_naming_it(tmp_path):
    inputs = _images(tmp_path / "in")
    _bomb_png(inputs / "huge.png")
    generator = tmp_path / "g.keras"
    generator.write_bytes(b"not loaded: the inputs are checked first")
    code, output = _cli("translate", "--generator", generator, "--input", inputs, "--output", tmp_path / "out")
    assert code == 2 and "Traceback" not in output
    assert "huge.png: too large: " in output and "400000000 pixels" in output
    assert not list((tmp_path / "out").glob("*.png"))


def test_data_check_and_read_image_share_the_guard(tmp_path):
    from cyclegan.data.dataset import _inspect_image
    from cyclegan.data.images import ImageTooLarge, read_image

    bomb = _bomb_png(tmp_path / "huge.png")
    problem, _ = _inspect_image(bomb, 32, 40_000_000)
    assert problem.kind == "too large" and "400000000 pixels" in problem.detail
    with pytest.raises(ImageTooLarge, match="huge.png: too large: .*400000000 pixels"):
        read_image(bomb, 32)


def test_translate_checks_a_read_only_output_before_translating(tmp_path, read_only_dir):
    generator = tmp_path / "g.keras"
    generator.write_bytes(b"never loaded: the output place is checked first")
    code, output = _cli("translate", "--generator", generator, "--input", _images(tmp_path / "in"), "--output", read_only_dir / "out")
    assert code == 2 and "Traceback" not in output
    assert f"{read_only_dir / 'out'}: cannot write the translated images here" in output


def test_a_study_or_a_run_in_a_place_that_cannot_be_written_is_one_line(tmp_path, read_only_dir, tiny_tree):
    """A read-only runs folder: SQLite's "unable to open database file" was retried by MLflow and by the
    store's own tries for over ten minutes; a runs folder under a file, or a run folder on a read-only
    place, ended in a traceback (NotADirectoryError, OSError). Each is now one line naming the place,
    status 2, before anything is trained."""
    import time

    (tmp_path / "a-file").write_text("x")
    study = _study(tmp_path)
    for runs_dir, why in ((read_only_dir, "Read-only file system" if read_only_dir.stat().st_uid == 0 else "Permission denied"),
                          (tmp_path / "a-file" / "runs", "Not a directory")):
        for command in ("ablate", "worker"):
            start = time.monotonic()
            code, output = _cli(command, study, "--runs-dir", runs_dir, "--no-progress")
            assert code == 2 and "Traceback" not in output and output.count("error: ") == 1, output
            assert f"{runs_dir}: cannot write the " in output and f"here ({why}); choose another place" in output, output
            assert time.monotonic() - start < 30
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_tree))
    code, output = _cli("train", config, "--run-dir", tmp_path / "a-file" / "run")
    assert code == 2 and "Traceback" not in output and f"{tmp_path / 'a-file' / 'run'}: Not a directory" in output, output


def test_export_to_a_read_only_place_is_one_line(tmp_path, read_only_dir):
    code, output = _cli("export", tmp_path / "no-run-needed", read_only_dir / "g.keras")
    assert code == 2 and "Traceback" not in output
    assert f"{read_only_dir}: cannot write the exported generator here" in output


def test_non_utf8_file_name_in_a_data_folder_is_named(tmp_path):
    import os

    root = tmp_path / "data"
    _images(root / "monet", 1)
    _images(root / "photo", 1)
    os.rename(root / "photo" / "img0.png", os.fsencode(root / "photo") + b"/\xff\xfe.png")
    code, output = _cli("data", "index", root)
    assert code == 2 and "Traceback" not in output
    assert "photo/\\xff\\xfe.png: the file name is not valid UTF-8" in output


# -- findings 2, 6, 7, 8: a fabricated study in a runs folder (no training) -------------------------

def _fabricate(tmp_path: Path, *, statuses: dict[tuple[str, int], str] | None = None, no_value: set | None = None,
               undefined_at_end: set | None = None, runs_dir: Path | None = None) -> tuple[Path, Path]:
    """A study ``fab`` (generator.norm instance/none x seeds 0-2) with one tracked run per cell: final
    eval/grid_score ~1 (instance) or ~4 (none), a sample grid artifact; ``statuses`` overrides a
    cell's FINISHED, ``no_value`` names cells that logged no eval/grid_score, ``undefined_at_end``
    cells whose eval/grid_score was NaN at their last mini-epoch. Returns (file, runs_dir)."""
    import numpy as np

    from cyclegan.data.images import save_png
    from cyclegan.runs.tracking import Tracker

    statuses, no_value, undefined_at_end = statuses or {}, no_value or set(), undefined_at_end or set()
    runs_dir = runs_dir or tmp_path / "runs"
    path = _study(tmp_path, file="fab.yaml", name="fab", seeds=[0, 1, 2],
                  hypotheses=[{**HYPOTHESIS, "name": "H2"}])
    study = load_study(path)
    tracker = Tracker(runs_dir)
    experiment = tracker.experiment_id(study.name)
    parent = tracker.parent_run(experiment, study.name)
    for cell in study.cells:
        key = (cell.levels["generator.norm"], cell.seed)
        run_id = tracker.child_run(experiment, parent, study=study.name, cell=cell.cell_id, run_name=cell.cell_id,
                                   tags={**cell.levels, "seed": str(cell.seed)}, config=cell.config)
        grid = 1.0 + 3.0 * (key[0] == "none") + 0.1 * cell.seed
        for step in (1, 2):
            values = {"loss/cycle": 1.0 / step, "time/mini_epoch_seconds": 1.0}
            if key not in no_value:
                values["eval/grid_score"] = float("nan") if key in undefined_at_end and step == 2 else grid
            tracker.log_metrics(run_id, values, step=step)
        sample = tmp_path / "stage" / cell.cell_id / "mini_epoch_0002.png"
        save_png(np.full((8, 8, 3), 0.5), sample)
        tracker.log_artifacts(run_id, [(sample, "samples")])
        status = statuses.get(key, "FINISHED")
        tracker.end_run(run_id, status, "interrupted" if status == "KILLED" else "boom" if status == "FAILED" else None)
    tracker.finish_parent(parent)
    return path, runs_dir


# -- finding 5: cyclegan ui --------------------------------------------------------------------------

def test_ui_on_a_busy_port_fails_at_once_naming_the_port(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = _cli("ui", "--runs-dir", tmp_path / "runs", "--port", port)
    assert code == 2 and "Traceback" not in output
    assert f"port {port} on 127.0.0.1 is in use" in output and "--port" in output
    assert "MLflow UI on" not in output and not (tmp_path / "runs").exists()  # nothing started


# That stopping the UI stops every process it started: test_mlflow_runs.py, with its start.


# -- finding 4 (full disk) and finding 2 (moved runs folder), on one trained tiny cell -----------------

@pytest.mark.slow
def test_full_disk_stops_the_cell_in_one_line_then_resumes_and_a_moved_folder_still_reads(tmp_path, tiny_tree, monkeypatch):
    import errno
    import shutil

    from mlflow.tracking import MlflowClient

    from cyclegan import names
    from cyclegan.core.runfolder.checkpoints import CheckpointStore
    from cyclegan.places import DiskFull
    from cyclegan.runs.ablation import StudyPaths, run_worker
    from cyclegan.runs.queue import CellQueue, QueueSettings, open_storage
    from cyclegan.runs.relocation import RunsFolderMoved
    from cyclegan.runs.tracking import Tracker

    fast = QueueSettings(heartbeat_seconds=1, grace_seconds=600, poll_seconds=0.5)  # a resume must not wait for the grace
    base = {**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 2, "checkpoint_every": 1, "keep_final_checkpoint": True}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "base": base, "factors": {"discriminator.output": ["patch"]}, "seeds": [0]}))
    study = load_study(path)
    runs = tmp_path / "runs"
    paths = StudyPaths.default(runs, None)
    queue = CellQueue(study, open_storage(paths.storage_url, fast))
    queue.enqueue_missing()

    original, saves = CheckpointStore.save, []

    def full_after_first(self, step):
        saves.append(step)
        if len(saves) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, step)

    monkeypatch.setattr(CheckpointStore, "save", full_after_first)
    with pytest.raises(DiskFull) as stopped:
        run_worker(study, paths, settings=fast, progress=False)
    text = str(stopped.value)
    assert "\n" not in text and "no space left on device" in text and "mounted at" in text
    assert f"kept checkpoint ckpt-{saves[0]}" in text and str(paths.cell_dir(study, study.cells[0].cell_id)) in text
    client = MlflowClient(names.sqlite_url(runs / names.MLFLOW_DB))
    run = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.role = 'cell'")[0]
    assert run.info.status == "FAILED" and "no space left on device" in run.data.tags[names.FAILURE_TAG]
    assert queue.cell_states() == {study.cells[0].cell_id: "waiting"}  # resumable at once, no grace period
    (parent,) = client.search_runs([run.info.experiment_id], "tags.role = 'parent'")
    assert parent.info.status == "KILLED"  # stopped, resumable: it stayed RUNNING with nothing running before

    monkeypatch.setattr(CheckpointStore, "save", original)  # space freed
    assert run_worker(study, paths, settings=fast, progress=False) == 1
    assert queue.cell_states() == {study.cells[0].cell_id: "done"}

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # set by MLflow in this process while training; a user's next command starts fresh
    moved = tmp_path / "moved" / "runs_here"
    moved.parent.mkdir()
    shutil.move(runs, moved)
    code, output = _cli("report", path, "--runs-dir", moved)
    assert code == 0, output
    assert "publishing to the study's MLflow parent run skipped" in output and "moved or copied from" in output
    inputs = _images(tmp_path / "inputs", 1)
    code, output = _cli("translate", "--generator", f"runs:/{run.info.run_id}/gen_photo2monet", "--input", inputs,
                        "--output", tmp_path / "translated", "--runs-dir", moved)
    assert code == 0, output
    assert (tmp_path / "translated" / "img0.png").is_file()
    with pytest.raises(RunsFolderMoved, match="move the folder back"):
        Tracker(moved).experiment_id("tiny")
    assert not runs.exists()  # nothing was written at the old place


def test_a_dead_local_workers_cell_is_handed_back_at_once(tmp_path):
    import socket
    import subprocess
    import sys

    from optuna.trial import TrialState

    from cyclegan.runs.queue import CellQueue, QueueSettings, open_storage

    study = load_study(_study(tmp_path))
    queue = CellQueue(study, open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", QueueSettings()))
    queue.enqueue_missing()
    trial_id, cell = queue.claim()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    queue.set_attr(trial_id, "worker", f"{socket.gethostname()}:{dead.pid}")
    assert queue.storage.get_trial(trial_id).state == TrialState.RUNNING
    assert queue.reap_dead_local_workers() == 1
    assert queue.cell_states()[cell] == "waiting"
    trial_id, cell = queue.claim()
    queue.set_attr(trial_id, "worker", f"{socket.gethostname()}:{__import__('os').getpid()}")  # alive: kept
    assert queue.reap_dead_local_workers() == 0 and queue.cell_states()[cell] == "running"


def test_a_running_cell_of_another_pid_namespace_or_of_unknown_one_is_left_to_the_heartbeats(tmp_path):
    """Containers that share a host name (docker --network host, a pod) number their processes apart:
    a live worker's pid there is not seen here, and its cell was handed on at once, to be trained twice.
    Only a worker of this PID namespace is looked up by pid; one of another or of unknown namespace (a
    claim by an earlier version) is taken over only when its heartbeats stop."""
    import socket
    import subprocess
    import sys

    from cyclegan.runs.queue import PID_SPACE_ATTR, CellQueue, QueueSettings, open_storage, pid_space

    study = load_study(_study(tmp_path))
    queue = CellQueue(study, open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", QueueSettings()))
    queue.enqueue_missing()
    trial_id, cell = queue.claim()
    unseen = subprocess.Popen([sys.executable, "-c", "pass"])
    unseen.wait()  # a pid that no process here has: another namespace's worker looks just like this
    queue.set_attr(trial_id, "worker", f"{socket.gethostname()}:{unseen.pid}")
    for space in ("pid:[4026531999]", None):  # another namespace; none recorded (an earlier version's claim)
        queue.storage.set_trial_user_attr(trial_id, PID_SPACE_ATTR, space)
        assert queue.reap_dead_local_workers() == 0 and queue.cell_states()[cell] == "running", space
    queue.storage.set_trial_user_attr(trial_id, PID_SPACE_ATTR, pid_space())  # this namespace: that worker is gone
    assert queue.reap_dead_local_workers() == 1 and queue.cell_states()[cell] == "waiting"
    (copy,) = [t for t in queue.storage.get_all_trials(queue.study_id) if t.state.name == "WAITING" and t.user_attrs["cell"] == cell]
    assert not {"worker", PID_SPACE_ATTR} & set(copy.user_attrs)  # the copy forgets the dead worker
    again, same = queue.claim(prefer={cell})
    assert same == cell and queue.storage.get_trial(again).user_attrs[PID_SPACE_ATTR] == pid_space()  # recorded with a claim


# -- findings 6, 7: report on a read-only runs folder, the study file's hash, interrupted cells, hints --

def test_report_on_a_read_only_runs_folder_prints_the_verdicts_and_exits_0(tmp_path, read_only_dir):
    import os
    import subprocess
    import sys

    if os.geteuid() != 0 or subprocess.run(["mount", "-o", "remount,rw,size=64m", str(read_only_dir)], capture_output=True).returncode:
        pytest.skip("needs a read-only mount made writable for a moment (root)")
    # The study is tracked in the folder itself (not copied there: a copy would be a moved folder), by
    # another process, so that no open store file keeps the mount from turning read-only again.
    tests = Path(__file__).parent
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tests)!r}); from pathlib import Path; "
                    f"import test_hardening as t; t._fabricate(Path({str(tmp_path)!r}), runs_dir=Path({str(read_only_dir)!r}))"],
                   check=True, capture_output=True)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_dir)], check=True)
    path = tmp_path / "fab.yaml"
    code, output = _cli("report", path, "--runs-dir", read_only_dir)
    assert code == 0, output
    assert "H2: " in output and "Traceback" not in output
    assert "cannot write the report files here" in output and "nothing published" in output
    code, output = _cli("report", path, "--runs-dir", read_only_dir, "--out", tmp_path / "elsewhere")
    assert code == 0, output
    assert "H2: " in output and "publishing to the study's MLflow parent run skipped" in output
    assert "moved" not in output  # the reason is the read-only store
    assert (tmp_path / "elsewhere" / "report.md").is_file()
    # An --out the user named that cannot be written is bad input (it exited 0 with a warning before).
    code, output = _cli("report", path, "--runs-dir", read_only_dir, "--out", read_only_dir / "report-here")
    assert code == 2 and f"{read_only_dir / 'report-here'}: cannot write the report files here" in output and "H2: " not in output, output


def test_report_records_the_study_files_hash_and_counts_interrupted_cells(tmp_path):
    import hashlib

    from mlflow.tracking import MlflowClient

    from cyclegan import names

    path, runs = _fabricate(tmp_path, statuses={("none", 2): "KILLED", ("instance", 2): "FAILED"})
    code, output = _cli("report", path, "--runs-dir", runs)
    assert code == 0, output
    assert "4 finished, 1 failed, 1 interrupted" in output
    report = (runs / "fab" / "report" / "report.md").read_text()
    assert "1 interrupted" in report
    client = MlflowClient(names.sqlite_url(runs / names.MLFLOW_DB))
    parent = client.search_runs([client.get_experiment_by_name("fab").experiment_id], "tags.role = 'parent'")[0]
    assert parent.data.tags[names.REPORT_STUDY_SHA256_TAG] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert parent.data.tags[names.REPORT_STUDY_FILE_TAG] == str(path.resolve())


def test_interrupted_report_says_nothing_is_checkpointed(tmp_path, monkeypatch):
    import cyclegan.report.build as build

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "open_reader", interrupted)
    code, output = _cli("report", _study(tmp_path), "--runs-dir", tmp_path / "runs")
    assert code == 130
    assert "nothing was published" in output and "checkpointed" not in output


def test_ablate_suggests_the_exact_report_command():
    from cyclegan.cli.study import report_command

    command = report_command(Path("exp/my study.yaml"), Path("/data/runs x"), ("train.mini_epochs=3", "generator.norm=none"))
    assert command == ("cyclegan report 'exp/my study.yaml' --runs-dir '/data/runs x' "
                       "--set train.mini_epochs=3 --set generator.norm=none")


# -- finding 8: a metric with no value in one arm; keys that do not apply to an architecture -----------

def test_report_names_the_runs_without_a_value_and_why(tmp_path):
    from cyclegan.report.build import collect, open_reader

    # One run logged no value at all (as earlier versions did with undefined values); two were defined
    # at their first evaluation and undefined at their last: their final value is the last one, not
    # the first (it was, and entered the verdict with the run's other, final, metrics).
    path, runs = _fabricate(tmp_path, no_value={("none", 0)}, undefined_at_end={("none", 1), ("none", 2)})
    report = collect(load_study(path), open_reader(runs), runs)
    lines = [w for w in report.warnings if w.startswith("H2: eval/grid_score has no value")]
    assert len(lines) == 1
    assert "in 3 of the 3 finished run(s) at generator.norm=none" in lines[0] and "NaN or infinite" in lines[0]
    assert all(c.cell_id in lines[0] for c in load_study(path).cells if c.levels["generator.norm"] == "none")
    (verdict,) = report.verdicts
    assert verdict.n_b == 0 and verdict.verdict == "inconclusive"  # no run of none enters it


def test_arch_crossed_with_a_random_unet_encoder(tmp_path):
    from cyclegan.spec.identity import identity_digest

    study = load_study(_study(tmp_path, factors={"generator.arch": ["resnet", "vgg_unet"]},
                              hypotheses=[{**HYPOTHESIS, "factor": "generator.arch", "levels": ["resnet", "vgg_unet"]}]))
    by_arch = {c.levels["generator.arch"]: c.config for c in study.cells}
    assert by_arch["vgg_unet"].generator.encoder_weights == "random"  # the U-Net gets the random encoder
    resnet = by_arch["resnet"].flat()
    assert resnet["generator.encoder_weights"] == resnet["generator.encoder_trainable"] == "not applicable"
    # Ignored keys leave a ResNet cell's identity as it was without them.
    plain = load_study(_study(tmp_path, file="plain.yaml", base={"data": {"image_size": 32, "holdout": 4}},
                              factors={"generator.arch": ["resnet", "vgg_unet"]},
                              hypotheses=[{**HYPOTHESIS, "factor": "generator.arch", "levels": ["resnet", "vgg_unet"]}]))
    plain_resnet = next(c for c in plain.cells if c.levels["generator.arch"] == "resnet")
    assert identity_digest(plain_resnet.config) == identity_digest(by_arch["resnet"])


def test_a_full_disk_where_no_step_expected_it_is_one_line_with_its_own_status(tmp_path, monkeypatch):
    """ENOSPC from any write (here the synthetic data's first image) is the disk-full status and one
    line naming the file, not a traceback: e.g. MLflow's store filling before a study's first cell."""
    import errno

    import cyclegan.data.synth
    from cyclegan import exit_codes

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "data" / "photo.jpg"))

    monkeypatch.setattr(cyclegan.data.synth, "make_synthetic_dataset", full)
    status, output = _cli("data", "synth", tmp_path / "data")
    assert status == exit_codes.DISK_FULL == 28
    assert "Traceback" not in output and "disk is full" in output and "photo.jpg" in output
