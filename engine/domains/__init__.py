"""The plugin contract: what a domain provides, the pluggy hook specifications and the registry that loads them."""
