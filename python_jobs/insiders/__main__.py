from insiders.cli import entrypoint

entrypoint()
