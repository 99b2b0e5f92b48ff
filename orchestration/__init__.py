"""The orchestrator's machinery: the step registry, retries, the DAG runner, the run lock, the
run manifest and --submit mode. Jobs never import it; orchestrator.py is its front door."""
