"""kdcourse: the helper package of the knowledge-distillation course pack.

Layers point one way: losses, metrics, data <- models <- engine <- distillers, experiments <- notebooks
and the command line.
"""

from .config import VERSION as __version__  # noqa: E402
from . import config, data, efficiency, losses, metrics, models, plots, saliency, scorecard  # noqa: E402
from . import engine  # noqa: E402
from . import distillers  # noqa: E402
from . import ban, baselines, experiments, exercises, report  # noqa: E402
from .experiments import start  # noqa: E402

__all__ = ["ban", "baselines", "config", "data", "distillers", "efficiency", "engine", "exercises", "losses", "metrics", "models",
           "plots", "experiments", "report", "saliency", "scorecard", "start"]
