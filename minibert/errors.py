"""minibert's own exceptions.

Every mistake a user can make (a wrong path, a corrupt weights file, a shape that does
not fit the config, a bad vocabulary) ends in one of these, with a message that names
the file, key or shape at fault. They subclass the built-in exception a Python user
would expect, so ``except ValueError`` still works.
"""


class MinibertError(Exception):
    """Base class of every error minibert raises on purpose."""


class WeightsError(MinibertError, ValueError):
    """A weights file is missing, corrupt, of an unknown format, or does not fit the config."""


class ConfigError(MinibertError, ValueError):
    """A config file is missing or unreadable, or a config or setting (training, pooling...) has a value minibert cannot use."""


class TokenizerError(MinibertError, ValueError):
    """A vocabulary file is unusable, or the tokenizer was called with bad arguments."""


class DeviceError(MinibertError, RuntimeError):
    """A device (e.g. CUDA) was asked for that this machine cannot provide."""


class DownloadError(MinibertError, RuntimeError):
    """Fetching a model or a data set failed (no network, wrong checksum, missing member)."""


class InputError(MinibertError, ValueError):
    """Arrays or arguments handed to the model do not fit (wrong shape, id out of range...)."""


class MinibertWarning(UserWarning):
    """Something worth knowing that is not an error (e.g. a newly initialised classifier head)."""


class TrainingError(MinibertError, RuntimeError):
    """Training cannot go on (e.g. the loss or a gradient became NaN or infinite)."""


class CheckpointError(MinibertError, ValueError):
    """A checkpoint is missing, partial or corrupt."""


class DataError(MinibertError, ValueError):
    """A data file is missing, malformed, or its labels cannot be used (names the file and line)."""
