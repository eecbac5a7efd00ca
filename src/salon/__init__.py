"""Salon: self-hostable, privacy-first video meeting infrastructure."""

import logging

__all__ = ["__version__"]
__version__ = "0.1.0"

logging.getLogger("salon").addHandler(logging.NullHandler())
