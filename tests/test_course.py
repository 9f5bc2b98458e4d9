"""The course's classroom kit: pieces kept across notebooks (with their helpers) and trained with, grading
that re-runs the checks, and strict mode for nbgrader."""
from __future__ import annotations

import csv

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from fsth.course import pieces
from teachers import solutions


def test_kept_pieces_build_train_and_finetune_a_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    pieces.keep(adain=solutions.adain, ResBlockUp=solutions.ResBlockUp, realism_score=solutions.realism_score,
                meta_step=solutions.meta_step, finetune_step=solutions.finetune_step)
    mine = pieces.mine()
    assert set(mine) == {"adain", "ResBlockUp", "realism_score", "meta_step", "finetune_step"}
    assert "generator_loss: fsth's (not kept yet)" in capsys.readouterr().out
    from fsth.course import course_data

    data = course_data("tiny", True)
    model = pieces.build_model("tiny", mine, num_videos=1)
    assert type(model.generator.up[0]).__module__ == "__your_ResBlockUp__"  # the learner's class itself
    assert type(model.generator.out_norm).__name__ == "YourAdaIN"
    run = pieces.train_mine(model, data, mine["meta_step"], minutes=5, max_steps=2)
    assert run["steps"] == 2 and len(run["holdout"]) == 4 and "d_embedding_match" in run["losses"]
    pieces.save_mine(model)
    again = pieces.load_mine()
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    from fsth.data import list_clips, load_clip

    clip = load_clip(list_clips(data)[0])
    person = pieces.finetune_mine(again, clip.frames[:4], clip.landmarks[:4], mine["finetune_step"], steps=2)
    assert person.render(clip.landmarks[4:6]).shape == (2, 64, 64, 3)


def test_a_kept_piece_that_fails_its_check_is_replaced_by_fsths(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))

    def wrong_score(v, w_rows, w0, b):
        return (v * w_rows).sum(1)

    pieces.keep(realism_score=wrong_score)
    assert pieces.mine("realism_score") == {}
    assert "realism_score: fsth's (yours doesn't pass its check yet)" in capsys.readouterr().out
    model = pieces.build_model("tiny", {}, num_videos=1)
    assert type(model.discriminator).__name__ == "Discriminator"


def _graded(source: str, grade_id: str, points: int = 1):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "locked": True,
                                                        "points": points, "solution": False}})


def test_grading_reruns_the_checks_and_ignores_what_the_notebook_prints(tmp_path):
    """A printed ✓, a check cell rewritten to print one, checks patched to pass, a deleted check cell:
    none of it scores. The course's own check cells run on the learner's definitions."""
    from fsth.course.grade import main

    reference = tmp_path / "course"
    reference.mkdir()
    nbformat.write(new_notebook(cells=[
        _graded("check_hinge_loss(my_hinge_loss)", "check_hinge_loss"),
        _graded("check_embedding_match(my_embedding_match)", "check_embedding_match"),
        _graded("check_eer(my_eer)", "check_eer", points=2),
        _graded("check_feature_matching(my_feature_matching)", "check_feature_matching")]),
        reference / "05_lesson.ipynb")
    nb = new_notebook(cells=[
        new_code_cell("from fsth.exercises import check_hinge_loss, check_embedding_match\n\n"
                      "def my_hinge_loss(r, f):\n    return (1 - r).clamp(min=0).mean() + (1 + f).clamp(min=0).mean()\n\n"
                      "def my_embedding_match(w, e):\n    return (w - e).sum()"),
        _graded("check_hinge_loss(my_hinge_loss)", "check_hinge_loss"),
        _graded("print('✓ embedding_match: matches fsth.losses.embedding_match_loss')", "check_embedding_match"),
        new_code_cell("import fsth.exercises, fsth.course.checks_use\n"
                      "fsth.exercises.check_eer = fsth.course.checks_use.check_eer = lambda f: True\n"
                      "def my_eer(labels, scores):\n    return 0.5\nprint('✓ eer: matches')"),
        _graded("check_eer(my_eer)", "check_eer", points=2)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "alice").mkdir()
    path = tmp_path / "alice" / "05_lesson.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(path), "--out", str(out), "--reference", str(reference)]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert list(rows[0]) == ["student", "notebook", "exercise", "grade_id", "result", "points", "max_points", "message",
                             "hint"]
    assert [(r["student"], r["exercise"], r["result"], r["points"], r["max_points"]) for r in rows] == [
        ("alice", "hinge_loss", "✓", "1", "1"), ("alice", "embedding_match", "✗", "0", "1"),
        ("alice", "eer", "✗", "0", "2"), ("alice", "feature_matching", "✗", "0", "1"), ("alice", "TOTAL", "", "1", "5")]
    assert "max difference" in rows[1]["message"]  # the real check ran on my_embedding_match
    assert "tolerance" in rows[2]["message"] and rows[2]["hint"]  # ... and on my_eer, with fresh checks
    assert "NameError" in rows[3]["message"] and "missing from the notebook" in rows[3]["message"]
    assert main(["grade", str(tmp_path / "missing.ipynb")]) == 2


def test_strict_mode_makes_a_failing_check_raise_and_a_passing_one_not(monkeypatch, capsys):
    from fsth import exercises

    wrong = lambda w, e: (w - e).sum()  # noqa: E731
    assert exercises.check_embedding_match(wrong) is False  # never raises by default
    monkeypatch.setenv("FSTH_STRICT", "1")
    with pytest.raises(AssertionError, match="embedding_match"):
        exercises.check_embedding_match(wrong)
    assert exercises.check_embedding_match(solutions.embedding_match) is True
    monkeypatch.delenv("FSTH_STRICT")
    monkeypatch.setattr(exercises, "STRICT", True)
    with pytest.raises(AssertionError, match="max difference"):
        exercises.check_embedding_match(wrong)
    from fsth.course.compare import lenient, last_result

    with lenient():  # mine() and grading: never raise
        assert exercises.check_embedding_match(wrong) is False
    assert last_result().check == "embedding_match" and last_result().ok is False
    capsys.readouterr()


def test_keep_stores_the_helpers_a_piece_calls_so_mine_runs_the_whole_solution(tmp_path, monkeypatch, capsys):
    """A generator loss that calls the learner's own L_MCH and feature matching, defined in notebook
    cells: kept with its helpers, it passes its check in a later notebook (a fresh namespace)."""
    import linecache

    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    source = (
        "import torch\nEPS = 0.0\n\n"
        "def my_feature_matching(fake_features, real_features):\n"
        "    return sum((f - r.detach()).abs().mean() for f, r in zip(fake_features, real_features))\n\n"
        "def my_embedding_match(w_rows, e_hat):\n    return (w_rows - e_hat).abs().mean() + EPS\n\n"
        "def my_generator_loss(D, fake, target, target_landmarks, video, w_rows, e_hat, weights):\n"
        "    score, fake_features = D(fake, target_landmarks, video)\n"
        "    with torch.no_grad():\n"
        "        _, real_features = D.features(target, target_landmarks)\n"
        "    losses = {'pixel': weights.pixel * (fake - target).abs().mean(),\n"
        "              'adversarial': -weights.adversarial * score.mean(),\n"
        "              'feature_matching': weights.feature_matching * my_feature_matching(fake_features, real_features)}\n"
        "    if w_rows is not None:\n"
        "        losses['embedding_match'] = weights.embedding_match * my_embedding_match(w_rows.detach(), e_hat)\n"
        "    return losses\n")
    filename = "/tmp/ipykernel_1/cell-7.py"  # as IPython compiles a cell, its text in linecache
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    pieces.keep(generator_loss=namespace["my_generator_loss"])
    assert "with my_embedding_match, my_feature_matching" in capsys.readouterr().out
    del namespace, linecache.cache[filename]
    kept = pieces.mine("generator_loss")
    assert "generator_loss: yours ✓" in capsys.readouterr().out
    assert kept["generator_loss"].__globals__["my_embedding_match"].__name__ == "my_embedding_match"


def test_keep_names_what_it_cannot_write_down(tmp_path, monkeypatch, capsys):
    import linecache

    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    source = "import torch\nSCALE = torch.ones(1)\n\ndef my_realism_score(v, w_rows, w0, b):\n" \
             "    return (v * (w_rows + w0)).sum(1) * SCALE + b\n"
    filename = "/tmp/ipykernel_1/cell-8.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    pieces.keep(realism_score=namespace["my_realism_score"])
    assert "uses SCALE (a Tensor" in capsys.readouterr().out
    assert pieces.mine("realism_score") == {}  # defined without SCALE: it can't pass, and fsth's is used


def test_course_people_are_not_the_training_people(tmp_path, monkeypatch):
    from fsth.course import course_people
    from fsth.io.clips import load_clip
    from fsth.data import list_clips
    from fsth.data.synthetic import write_dataset

    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    people = load_clip(list_clips(course_people(32, True))[0])
    write_dataset(tmp_path / "train", identities=1, clips_per_identity=1, frames=16, size=32, seed=0, progress=False)
    trained = load_clip(list_clips(tmp_path / "train")[0])
    assert not np.array_equal(people.frames, trained.frames)
