"""TinySVG: coloured rectangles and ellipses laid out by bounding boxes (a built-in treediff domain)."""
