"""fsth's misinformation-risk half: how detectable are generated talking heads?

Detectors (timm backbones and a frequency-spectrum baseline), metrics and studies
arrive with the detector issue; this package is installed alongside ``fsth``.
"""
