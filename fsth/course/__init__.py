"""The course wing: self-checking exercises for the course (``notebooks/``): your implementation against fsth's.

    from fsth.exercises import check_adain
    check_adain(my_adain)
    # ✓ adain: matches fsth.nn.AdaIN — approximate (max difference 4.8e-07 ≤ 1e-04) on 3 cases
    # ✗ adain: case 1 of 3 (x (2, 4, 6, 5), psi (2, 8)): max difference 0.0318 at [1, 2, 0, 3] ...
    #     hint: torch.var() is unbiased by default; instance norm divides by H·W (unbiased=False)

Every ``check_*`` prints one ✓/✗ line (and, when wrong, what differs and a hint) and
returns True or False. A wrong answer never raises — an error inside your code is
reported as a ✗ naming the line — only misuse does (passing something that can't be
called), and strict mode (``fsth.exercises.STRICT = True`` or ``FSTH_STRICT=1``: a ✗ raises
AssertionError, for nbgrader). Checks compare values *and* gradients (losses, blocks) or the
weights after two steps from a used state (training steps); they refuse fsth's own code handed
in — called, or pasted under another name — and fsth's internals where the exercise is to write
them (:mod:`fsth.course.origin`). ``compare(name, mine, reference)`` is the general tool, in the
spirit of nn-zero-to-hero's ``cmp``: exact / approximate / max difference, shapes and dtypes.

Stuck? Every check names the usual mistakes. Reference solutions are for teachers:
``teachers/solutions.py`` and the solution notebooks ``fsth/course/solutions/`` (the source the
student notebooks are built from, ``fsth course build``) in the repository (not installed with fsth).

Also here: the course's plumbing: where notebooks keep their data (``course_dir``), the small
SynthHeads sets they share (``course_data`` to train on, ``course_people`` for new faces), your
pieces kept for later notebooks and the model built and trained with them (``keep``, ``mine``,
``build_model``, ``describe_share``, ``train_mine``, ``load_mine``, ``finetune_mine``; :mod:`fsth.course.pieces`), and grading
(``fsth course grade NOTEBOOK…``: the checks re-run in a fresh kernel; :mod:`fsth.course.grade`).
"""
from ..hardware import configure_threads
from .checks_data import check_episode, check_landmark_image, check_to_tensor
from .checks_losses import check_embedding_match, check_feature_matching, check_hinge_loss, check_personalize
from .checks_build import (check_discriminator_loss, check_finetune_step, check_generator_loss, check_meta_step,
                           check_realism_score, check_resblock, check_resblock_up)
from .checks_networks import check_adain, check_embedder_average, check_resblock_down
from .checks_use import check_eer, check_relative_adaptation, check_temperature
from .checks_warp import check_piecewise_warp
from .checks_live import check_label_stamp
from .compare import compare
from .data import course_config, course_data, course_dir, course_model, course_people, course_train_config
from .pieces import (build_model, describe_share, finetune_mine, keep, load_mine, mine, parameter_share,
                     personalize_mine, save_mine, train_mine)
from .plots import as_image, show, tile

configure_threads()  # a notebook kernel gets the cores it may use (cgroup quota), not the machine's

__all__ = ["compare", "check_to_tensor", "check_landmark_image", "check_episode", "check_resblock_down",
           "check_embedder_average", "check_adain", "check_hinge_loss", "check_feature_matching",
           "check_embedding_match", "check_personalize", "check_relative_adaptation", "check_eer", "check_piecewise_warp",
           "check_resblock", "check_resblock_up", "check_realism_score", "check_generator_loss", "check_discriminator_loss",
           "check_meta_step", "check_finetune_step", "check_temperature", "check_label_stamp",
           "course_dir", "course_data", "course_config", "course_train_config", "course_model", "course_people", "keep",
           "mine", "build_model", "describe_share", "parameter_share", "train_mine", "save_mine", "load_mine",
           "personalize_mine", "finetune_mine", "as_image", "show", "tile"]
