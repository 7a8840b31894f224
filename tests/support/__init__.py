"""Helpers shared by test folders: real local servers that stand in for outside services."""
