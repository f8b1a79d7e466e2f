"""Training: configuration, on-the-fly data, the trainer loop, progress logs, checkpoints and torchrun plumbing."""
