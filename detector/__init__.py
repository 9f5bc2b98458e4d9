"""fsth's misinformation-risk half: how detectable are generated talking heads?

Detectors (timm backbones and a frequency-spectrum baseline, :mod:`detector.models`), their
metrics (:mod:`detector.metrics`) and the study that measures fsth's fakes with them
(:mod:`detector.study`). Installed alongside ``fsth`` and built on its public API only.
"""
