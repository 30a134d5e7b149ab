"""Developer tools: benchmarks and the chaos test."""
