"""fsth's misinformation-risk half: how detectable are generated talking heads?

Detectors (a frequency-spectrum baseline, a residual CNN and timm backbones, fine-tuned or
linearly probed: :mod:`detector.models`, :mod:`detector.backbones`), trained with the same
augmentation of both classes (:mod:`detector.augment`); their metrics (:mod:`detector.metrics`);
and the study that measures fsth's fakes with them (:mod:`detector.study`), with real faces
processed exactly like the fakes (:mod:`detector.data`, :mod:`detector.sources`), test faces
checked unseen by the generator (:mod:`detector.unseen`), your own data read and checked
(:mod:`detector.folders`), and a detector shipped only if it passes the no-generator control
(:mod:`detector.controls`). Installed alongside ``fsth`` and built on its public API only.
"""
