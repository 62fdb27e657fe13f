"""Shard file formats that trainers read without custom code."""
