"""leadnet's kit: the pieces every service uses and none re-implements."""
