"""Trainable graph encoders: modules that turn the relational triples into entity representations."""
