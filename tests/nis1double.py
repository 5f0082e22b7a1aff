"""The tests' name for the recorded-shape NIS1 double, which lives in the package
(:mod:`kinko.chains.nis1_double`) because the demo's NEM act runs on it too."""

from kinko.chains.nis1_double import NIS_VERSION, PRIVATE, Nis1Double, nis_json

__all__ = ["NIS_VERSION", "PRIVATE", "Nis1Double", "nis_json"]
