"""Training: datasets of real cases, augmentation, the two-stage latent diffusion loop, packaging."""
