"""kdcourse: the helper package of the knowledge-distillation course pack."""
__version__ = "0.1.0"

from . import config, data, efficiency, losses, metrics, models, plots, recipes, report, train  # noqa: E402
from .config import start  # noqa: E402

__all__ = ["config", "data", "efficiency", "losses", "metrics", "models", "plots", "recipes", "report", "train", "start"]

from . import saliency  # noqa: E402
__all__ += ["saliency"]

from . import features  # noqa: E402
__all__ += ["features"]

from . import ban  # noqa: E402
__all__ += ["ban"]
