"""fsth: few-shot talking heads (Zakharov et al., ICCV 2019, arXiv:1905.08233).

Teaches the method in notebooks, reproduces it as software, and measures how detectable
its fakes are. Generated media is marked synthetic; see README for intended use.
"""
__version__ = "0.1.0"
