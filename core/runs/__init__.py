"""Runs: the fair queue (queue), and where runs train: a thread (thread), worker processes (workers) or
a Ray cluster (ray_server, ray_node), sharing out_of_process. executors is the one module that knows them all."""
