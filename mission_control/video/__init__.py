"""Live video: sources (OpenCV capture, sim frames), the relay (JPEG fan-out), privacy
masking, overlays and evidence recording."""
