"""`nodediag watch`, the collector's half: sample the deployment and the host cheaply, keep the
samples in a small SQLite ring, listen to Docker's events, and capture a bundle (the same collection
as `nodediag collect`) the moment something breaks.

    store.py      the SQLite sample ring in the watch folder, bounded by age and size
    sampler.py    one sample: containers (state, restarts, memory, CPU), host, filesystems, /status, new log lines
    events.py     Docker's event stream (die, oom, restart) on a thread, reconnecting with back-off
    triggers.py   what counts as broken, and the cooldown per kind
    capture.py    runs the collection with the trigger and the samples; bundle retention; --on-capture
    loop.py       the watcher: ties them together until SIGTERM

The analyzer is never imported here: the rule matcher for log lines is passed in as a callable.
"""
