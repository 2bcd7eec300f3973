"""The only Textual code: the app, its messages, keys, palette, widgets and screens."""
