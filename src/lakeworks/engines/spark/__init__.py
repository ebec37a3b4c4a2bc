"""The Spark engine: SQL nodes on Apache Spark over lakehouse tables."""
