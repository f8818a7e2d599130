"""Configuration: settings from the environment and the YAML files operators edit."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent

__all__ = ["CONFIG_DIR"]
