"""Samplers of negatives: the draws every translational and Gaussian model's margin losses share."""
