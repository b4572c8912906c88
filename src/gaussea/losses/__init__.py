"""Alignment losses shared by models: functions of anchor / partner / candidate embeddings."""
