"""CSG2D: binary 128x128 images from circles and rotated rectangles combined by union and difference."""
