"""The course's classroom kit: pieces kept across notebooks and trained with, and grading to CSV."""
from __future__ import annotations

import csv

import nbformat
import numpy as np
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
    assert type(model.generator.up[0]).__name__ == "YourResBlockUp"
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


def test_grade_writes_one_row_per_check(tmp_path):
    from fsth.course.grade import main

    nb = new_notebook(cells=[
        new_code_cell("from fsth.exercises import check_hinge_loss\n\ndef my_hinge_loss(r, f):\n"
                      "    return (1 - r).clamp(min=0).mean() + (1 + f).clamp(min=0).mean()"),
        new_code_cell("check_hinge_loss(my_hinge_loss)", metadata={"nbgrader": {"grade_id": "check_hinge_loss"}}),
        new_code_cell("from fsth.exercises import check_embedding_match\ncheck_embedding_match(lambda w, e: (w - e).sum())"),
        new_code_cell("check_eer(undefined_name)", metadata={"nbgrader": {"grade_id": "check_eer"}})])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "alice.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(path), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [(r["check"], r["result"], r["points"]) for r in rows] == [
        ("hinge_loss", "✓", "1"), ("embedding_match", "✗", "0"), ("check_eer", "✗", "0")]
    assert "NameError" in rows[2]["message"]
    assert main(["grade", str(tmp_path / "missing.ipynb")]) == 2


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
