"""Wrong answers the course's checks used to pass, and the right ones they must keep passing.

Four kinds, each from the issue plus a few of our own: fsth's code pasted under a new name (a), fsth's
internals used as the answer (b), a right value with a wrong gradient (c), and a training step that is
only right from a clean state (d); plus the hinge loss on unequal real and fake batches (e). The
reference solutions and a helper-calling notebook style pass (f).
"""
from __future__ import annotations

import inspect
import linecache
import textwrap
from itertools import count

import pytest
import torch
import torch.nn.functional as F

from fsth import exercises
from fsth.course import origin
from teachers import solutions

_cells = count()


def cell(source: str, namespace: dict | None = None) -> dict:
    """Run ``source`` as a notebook cell runs: compiled under a file name of IPython's kind, its text in
    linecache, in a ``__main__`` namespace (pass one to share it between cells)."""
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    source = textwrap.dedent(source)
    filename = f"/tmp/ipykernel_0/{next(_cells)}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def fails(check, answer, capsys, *words) -> str:
    assert check(answer) is False
    out = capsys.readouterr().out
    assert out.startswith("✗"), out
    for word in words:
        assert word in out, out
    return out


def passes(check, answer, capsys) -> None:
    ok = check(answer)
    out = capsys.readouterr().out
    assert ok is True and out.startswith("✓"), out


# ----------------------------------------------------------------------------------------
# (a) fsth's code pasted under a new name
# ----------------------------------------------------------------------------------------

def test_fsths_eer_exec_d_under_a_new_name_is_fsths_code(capsys):
    import fsth.metrics

    namespace = {"__name__": "__main__", "np": fsth.metrics.np}
    exec(inspect.getsource(fsth.metrics.eer).replace("def eer(", "def my_eer("), namespace)  # no source kept
    fails(exercises.check_eer, namespace["my_eer"], capsys, "fsth's own fsth.metrics.eer", "under another name",
          "hint:")


def test_fsths_warp_pasted_with_fsths_globals_is_still_fsths_code(capsys):
    import fsth.warp

    namespace = dict(vars(fsth.warp))  # as if `from fsth.warp import *`, module name and all
    exec(inspect.getsource(fsth.warp.source_positions).replace("def source_positions(", "def my_warp("), namespace)
    fails(exercises.check_piecewise_warp, namespace["my_warp"], capsys, "fsth.warp.source_positions")


def test_metasteps_call_copied_into_a_subclass_is_fsths_code(capsys):
    from fsth.train import step

    namespace = cell("from fsth.train.step import MetaStep, OptimConfig\n\n"
                     "class MyStep(MetaStep):\n" + textwrap.indent(textwrap.dedent(inspect.getsource(
                         step.MetaStep.__call__)), "    ") + "\n\n"
                     "def my_meta_step(model, batch, opt_g, opt_d, opt_w, weights):\n"
                     "    s = MyStep(model, None, weights, OptimConfig(amp='none', channels_last=False))\n"
                     "    s.opt_g, s.opt_d, s.opt_w = opt_g, opt_d, opt_w\n"
                     "    return s(batch)\n")
    fails(exercises.check_meta_step, namespace["my_meta_step"], capsys, "MyStep.__call__",
          "fsth.train.step.MetaStep.__call__")


def test_fit_temperature_pasted_is_fsths_code(capsys):
    import fsth.metrics

    source = inspect.getsource(fsth.metrics.fit_temperature).replace("def fit_temperature(", "def my_temperature(")
    namespace = cell("import numpy as np\n" + source)
    fails(exercises.check_temperature, namespace["my_temperature"], capsys, "fsth.metrics.fit_temperature")


def test_a_helper_that_is_fsths_code_is_found_through_the_answer(capsys):
    """The answer itself is one line; the helper it calls is generator_terms pasted."""
    import fsth.losses

    source = inspect.getsource(fsth.losses.generator_terms).replace("def generator_terms(", "def _terms(")
    namespace = cell("import torch\nimport torch.nn.functional as F\n"
                     "from fsth.losses import LossWeights, adversarial_g_loss, feature_matching_loss, "
                     "embedding_match_loss, region_l1\n" + source + "\n\n"
                     "def my_generator_loss(D, fake, target, y, video, w_rows, e_hat, weights):\n"
                     "    return _terms(D, fake, target, y, weights, video=video, w_rows=w_rows, e_hat=e_hat)\n")
    fails(exercises.check_generator_loss, namespace["my_generator_loss"], capsys, "your _terms",
          "fsth.losses.generator_terms")


def test_fsths_resblock_up_class_pasted_whole_is_fsths_code(capsys):
    import fsth.nn.blocks as blocks

    namespace = cell("from fsth.nn.blocks import *\n"
                     + inspect.getsource(blocks.ResBlockUp).replace("class ResBlockUp(", "class MyResBlockUp("))
    fails(exercises.check_resblock_up, namespace["MyResBlockUp"], capsys, "fsth.nn.blocks.ResBlockUp.")


def test_a_one_line_formula_that_happens_to_be_fsths_line_is_not_refused():
    """hinge_d_loss is one line; writing it from the paper gives the same bytecode, and that's fine."""
    assert origin.copied_from_fsth(solutions.hinge_loss) is None
    assert origin.copied_from_fsth(solutions.embed_average) is None  # Embedder.embed's very lines


# ----------------------------------------------------------------------------------------
# (b) fsth's internals used as the answer
# ----------------------------------------------------------------------------------------

def test_a_meta_step_assembled_from_metasteps_parts_is_refused(capsys):
    from fsth.train.step import MetaStep, OptimConfig, apply_update

    def my_meta_step(model, batch, opt_g, opt_d, opt_w, weights):
        s = MetaStep(model, None, weights, OptimConfig(amp="none", channels_last=False))
        D = model.discriminator
        D.requires_grad_(False)
        g, fake, e = s.generator_losses(batch)
        apply_update(g, [opt_g], [], s.scaler)
        D.requires_grad_(True)
        d = s.discriminator_losses(batch, fake, e)
        apply_update(d, [opt_d, opt_w], [], s.scaler)
        return {**g, **d}

    fails(exercises.check_meta_step, my_meta_step, capsys, "fsth's own machinery",
          "fsth.train.step.MetaStep.generator_losses", "hint: write the step yourself")


def test_personalising_with_the_networks_own_personalize_is_refused(capsys):
    def my_personalize(model, e_hat):
        model.generator.personalize(e_hat)
        model.discriminator.personalize(e_hat)
        return model.generator.psi[0], model.discriminator.w_personal

    fails(exercises.check_personalize, my_personalize, capsys, "fsth.nn.generator.Generator.personalize",
          "model.generator.projection")


def test_a_finetune_step_through_fsths_apply_update_is_refused(capsys):
    from fsth.losses import discriminator_terms, generator_terms
    from fsth.train.step import apply_update

    def my_finetune_step(make_fake, D, target, target_landmarks, opt_g, opt_d, weights):
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        D.requires_grad_(False)
        fake = make_fake()
        g = generator_terms(D, fake, target, target_landmarks, weights)
        apply_update(g, [opt_g], [], scaler)
        D.requires_grad_(True)
        d = discriminator_terms(D, target, fake, target_landmarks)
        apply_update(d, [opt_d], [], scaler)
        return {**g, **d}

    fails(exercises.check_finetune_step, my_finetune_step, capsys, "fsth.train.step.apply_update")


def test_a_meta_step_borrowed_from_the_course_plumbing_is_refused(capsys):
    from fsth.course.pieces import _fsth_meta_step

    def my_meta_step(model, batch, opt_g, opt_d, opt_w, weights):
        return _fsth_meta_step(model, weights, 1e-3, 1e-3)(batch)

    fails(exercises.check_meta_step, my_meta_step, capsys, "fsth.train.step.")


def test_a_generator_loss_from_generator_terms_is_refused(capsys):
    from fsth.losses import generator_terms

    def my_generator_loss(D, fake, target, y, video, w_rows, e_hat, weights):
        return generator_terms(D, fake, target, y, weights, video=video, w_rows=w_rows, e_hat=e_hat)

    fails(exercises.check_generator_loss, my_generator_loss, capsys, "compare fsth with fsth")


# ----------------------------------------------------------------------------------------
# (c) right values, wrong gradients
# ----------------------------------------------------------------------------------------

def test_feature_matching_with_the_right_value_and_half_the_gradient_fails(capsys):
    def half(fake, real):
        return sum(0.5 * (f - r.detach()).abs().mean() + 0.5 * (f.detach() - r.detach()).abs().mean()
                   for f, r in zip(fake, real))

    fails(exercises.check_feature_matching, half, capsys, "right value, wrong gradient for fake_features")


def test_adain_with_detached_statistics_fails(capsys):
    def adain(x, psi, eps=1e-5):
        scale, bias = psi[:, :, None, None].chunk(2, dim=1)
        mean = x.mean((2, 3), keepdim=True).detach()
        var = x.var((2, 3), keepdim=True, unbiased=False).detach()
        return (x - mean) / torch.sqrt(var + eps) * scale + bias

    fails(exercises.check_adain, adain, capsys, "right value, wrong gradient for x", "no .detach() on the statistics")


def test_embedding_match_that_detaches_e_hat_itself_fails(capsys):
    fails(exercises.check_embedding_match, lambda w, e: (w - e.detach()).abs().mean(), capsys,
          "wrong gradient for e_hat")


def test_resblock_down_with_a_detached_skip_fails(capsys):
    class Detached(solutions.ResBlockDown):
        def forward(self, x):
            h = self.conv2(F.relu(self.conv1(F.relu(x))))
            return F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x.detach(), 2))

    fails(exercises.check_resblock_down, Detached, capsys, "wrong gradient for x")


def test_a_generator_loss_that_trains_w_in_gs_step_fails(capsys):
    def my_generator_loss(D, fake, target, y, video, w_rows, e_hat, weights):
        losses = solutions.generator_loss(D, fake, target, y, video, None, None, weights)
        if w_rows is not None:
            losses["embedding_match"] = weights.embedding_match * (w_rows - e_hat).abs().mean()
        return losses

    fails(exercises.check_generator_loss, my_generator_loss, capsys, "wrong gradient for Wᵢ", "detach Wᵢ")


def test_an_average_computed_without_gradients_fails(capsys):
    def my_embed_average(embedder, frames, landmarks):
        with torch.no_grad():
            return solutions.embed_average(embedder, frames, landmarks)

    fails(exercises.check_embedder_average, my_embed_average, capsys, "gradients flow through")


# ----------------------------------------------------------------------------------------
# (d) a step that is right only from a clean state
# ----------------------------------------------------------------------------------------

def _finetune(make_fake, D, target, lms, opt_g, opt_d, weights, zero=True, detach=True):
    D.requires_grad_(False)
    fake = make_fake()
    g = solutions.generator_loss(D, fake, target, lms, None, None, None, weights)
    if zero:
        opt_g.zero_grad()
    sum(g.values()).backward()
    opt_g.step()
    D.requires_grad_(True)
    d = solutions.hinge_loss(D(target, lms)[0], D(fake.detach() if detach else fake, lms)[0])
    if zero:
        opt_d.zero_grad()
    d.backward()
    opt_d.step()
    return {**g, "d_hinge": d}


def test_a_finetune_step_without_zero_grad_fails(capsys):
    fails(exercises.check_finetune_step, lambda *a: _finetune(*a, zero=False), capsys, "zero_grad()")


def test_a_finetune_step_whose_d_loss_reaches_g_fails_and_says_detach(capsys):
    fails(exercises.check_finetune_step, lambda *a: _finetune(*a, detach=False), capsys, "your code raised",
          "fake.detach()")


def _meta(model, batch, opt_g, opt_d, opt_w, weights, zero_d=True, freeze=True, optimisers=None):
    E, G, D = model.embedder, model.generator, model.discriminator
    e_hat = solutions.embed_average(E, batch["shots"], batch["shot_landmarks"])
    fake = G(batch["target_landmarks"], e_hat)
    if optimisers is not None:
        opt_g, opt_d, opt_w = optimisers(model, opt_g)
    D.requires_grad_(not freeze)
    g = solutions.generator_loss(D, fake, batch["target"], batch["target_landmarks"], batch["video"],
                                 D.W(batch["video"]), e_hat, weights)
    opt_g.zero_grad()
    sum(g.values()).backward()
    opt_g.step()
    D.requires_grad_(True)
    d = solutions.discriminator_loss(D, batch["target"], fake, batch["target_landmarks"], batch["video"], e_hat,
                                     weights)
    if zero_d:
        opt_d.zero_grad()
        opt_w.zero_grad()
    sum(d.values()).backward()
    opt_d.step()
    opt_w.step()
    return {**g, **d}


def test_a_meta_step_that_never_zeroes_ds_gradients_fails(capsys):
    fails(exercises.check_meta_step, lambda *a: _meta(*a, zero_d=False), capsys, "zero_grad()")


def test_a_meta_step_with_d_unfrozen_fails_even_when_the_weights_agree(capsys):
    out = fails(exercises.check_meta_step, lambda *a: _meta(*a, freeze=False), capsys, "the weights match, but",
                "received gradients before opt_g.step()", "requires_grad_(False)")
    assert "step 1 of 2" in out


def test_a_meta_step_with_optimisers_of_its_own_fails_on_the_second_step(capsys):
    def fresh(model, given):
        lr = given.param_groups[0]["lr"]
        E, G, D = model.embedder, model.generator, model.discriminator
        dense = [p for n, p in D.named_parameters() if not n.startswith("W.")]
        return (torch.optim.SGD(list(E.parameters()) + list(G.parameters()), lr), torch.optim.SGD(dense, lr),
                torch.optim.SGD([D.W.weight], lr))

    out = fails(exercises.check_meta_step, lambda *a: _meta(*a, optimisers=fresh), capsys,
                "use the optimisers you are given")
    assert "step 2 of 2" in out  # the first step of plain SGD matches; momentum shows on the second


# ----------------------------------------------------------------------------------------
# (e) the hinge loss on unequal batches
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong", [lambda r, f: (F.relu(1 - r) + F.relu(1 + f)).mean(),
                                   lambda r, f: 2 * torch.cat([F.relu(1 - r), F.relu(1 + f)]).mean()],
                         ids=["one mean over both, broadcast", "one mean over both, concatenated"])
def test_a_hinge_that_averages_reals_and_fakes_together_fails(wrong, capsys):
    fails(exercises.check_hinge_loss, wrong, capsys, "two means, one per batch")


# ----------------------------------------------------------------------------------------
# (f) what must keep passing
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, solution", [
    (exercises.check_adain, solutions.adain), (exercises.check_resblock_up, solutions.ResBlockUp),
    (exercises.check_hinge_loss, solutions.hinge_loss), (exercises.check_feature_matching, solutions.feature_matching),
    (exercises.check_generator_loss, solutions.generator_loss), (exercises.check_meta_step, solutions.meta_step),
    (exercises.check_personalize, solutions.personalize), (exercises.check_finetune_step, solutions.finetune_step),
    (exercises.check_eer, solutions.eer), (exercises.check_piecewise_warp, solutions.piecewise_warp)],
    ids=lambda x: getattr(x, "__name__", "")[:30])
def test_the_reference_solutions_pass(check, solution, capsys):
    passes(check, solution, capsys)


def test_a_notebook_solution_that_calls_its_own_helpers_passes(capsys):
    namespace = cell("""
        import torch
        from fsth.losses import feature_matching_loss  # an earlier lesson's loss: allowed

        def my_embedding_match(w_rows, e_hat):
            return (w_rows - e_hat).abs().mean()

        def my_generator_loss(D, fake, target, target_landmarks, video, w_rows, e_hat, weights):
            score, fake_features = D(fake, target_landmarks, video)
            with torch.no_grad():
                _, real_features = D.features(target, target_landmarks)
            losses = {"pixel": weights.pixel * (fake - target).abs().mean(),
                      "adversarial": weights.adversarial * -score.mean(),
                      "feature_matching": weights.feature_matching * feature_matching_loss(fake_features, real_features)}
            if w_rows is not None:
                losses["embedding_match"] = weights.embedding_match * my_embedding_match(w_rows.detach(), e_hat)
            return losses

        def my_discriminator_loss(D, target, fake, target_landmarks, video, e_hat, weights):
            real, _ = D(target, target_landmarks, video)
            fake_score, _ = D(fake.detach(), target_landmarks, video)
            return {"d_hinge": torch.relu(1 - real).mean() + torch.relu(1 + fake_score).mean(),
                    "d_embedding_match": weights.embedding_match * my_embedding_match(D.W(video), e_hat.detach())}

        def my_meta_step(model, batch, opt_g, opt_d, opt_w, weights):
            E, G, D = model.embedder, model.generator, model.discriminator
            e_hat = E.embed(batch["shots"], batch["shot_landmarks"])
            fake = G(batch["target_landmarks"], e_hat)
            D.requires_grad_(False)
            g = my_generator_loss(D, fake, batch["target"], batch["target_landmarks"], batch["video"],
                                  D.W(batch["video"]), e_hat, weights)
            opt_g.zero_grad()
            sum(g.values()).backward()
            opt_g.step()
            D.requires_grad_(True)
            d = my_discriminator_loss(D, batch["target"], fake, batch["target_landmarks"], batch["video"], e_hat, weights)
            opt_d.zero_grad()
            opt_w.zero_grad()
            sum(d.values()).backward()
            opt_d.step()
            opt_w.step()
            return {**g, **d}
    """)
    passes(exercises.check_generator_loss, namespace["my_generator_loss"], capsys)
    passes(exercises.check_meta_step, namespace["my_meta_step"], capsys)


def test_a_finetune_step_with_fsth_losses_as_notebook_07_allows_passes(capsys):
    from fsth.losses import generator_terms, hinge_d_loss

    def my_finetune_step(make_fake, D, target, target_landmarks, opt_g, opt_d, weights):
        D.requires_grad_(False)
        fake = make_fake()
        g = generator_terms(D, fake, target, target_landmarks, weights)
        opt_g.zero_grad()
        sum(g.values()).backward()
        opt_g.step()
        D.requires_grad_(True)
        d = hinge_d_loss(D(target, target_landmarks)[0], D(fake.detach(), target_landmarks)[0])
        opt_d.zero_grad()
        d.backward()
        opt_d.step()
        return {**g, "d_hinge": d}

    passes(exercises.check_finetune_step, my_finetune_step, capsys)
