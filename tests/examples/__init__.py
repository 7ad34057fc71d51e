"""Tests of the shipped examples (examples/)."""
