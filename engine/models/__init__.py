"""Neural models of the engine: observation encoders, denoiser, value network, AR baseline, batched inference."""
