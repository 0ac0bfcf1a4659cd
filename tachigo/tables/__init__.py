"""Faust tables of the worker and the records stored in them.

``viewers`` holds one ``ViewerEntry`` per viewer (keyed like the heartbeats topic, so
co-partitioned with it). ``partition_facts`` holds, per heartbeats partition, what the
control records said: each clock's time, each channel's live state and settings.
"""
