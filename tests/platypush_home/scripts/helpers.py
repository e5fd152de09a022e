"""Imported by the other scripts as `scripts.helpers`, as in Platypush."""

from platypush.config import Config


def greeting(name):
    return f"hello {name} from {Config.get('device_id')}"
