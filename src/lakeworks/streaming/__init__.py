"""Real-time sync: stream nodes (``*.stream.yml``) that follow a source and write it to
the warehouse continuously, with the source position committed with the rows."""
