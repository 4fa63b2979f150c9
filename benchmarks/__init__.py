"""Speed and quality benchmarks; run each as `python -m benchmarks.NAME`."""
