"""treediff plugin: pylists (programming by example over Python list pipelines)."""
