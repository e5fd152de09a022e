from platypush.plugins.light.hue import LightHuePlugin  # not here
