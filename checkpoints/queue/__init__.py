"""The job queue's machinery under jobs/ and tasks.py: a job's state and its waits,
the reaper, fairness between projects, the watchdog, live progress and housekeeping."""
