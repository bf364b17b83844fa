"""Classical priors: the deterministic answer each model starts from, fitted in seconds.

Every learned model refines one of these (a regression network starting exactly at the prior,
then diffusion of what both miss), so a trained package can be compared with, and is never
shipped below, its own prior.
"""
