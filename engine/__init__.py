"""treediff engine: grammar-agnostic program synthesis by diffusion over syntax trees."""

__version__ = "0.1.0"
