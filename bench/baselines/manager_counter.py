"""The recipe fastify-shared-state replaces: a multiprocessing BaseManager hosting a dict and a
lock, and N processes doing `with lock: d['n'] += 1` for a fixed time.

    python3 manager_counter.py PORT PROCESSES SECONDS

Prints one JSON line: {"ops": ..., "seconds": ..., "rate": ..., "final": ...}.
"""
import json
import multiprocessing as mp
import sys
import threading
import time
from multiprocessing.managers import AcquirerProxy, BaseManager, DictProxy

AUTHKEY = b'bench-key-0123456789abcdef'
STATE = {'n': 0}
LOCK = threading.Lock()


def get_dict():
    return STATE


def get_lock():
    return LOCK


class CounterManager(BaseManager):
    pass


CounterManager.register('get_dict', callable=get_dict, proxytype=DictProxy)
CounterManager.register('get_lock', callable=get_lock, proxytype=AcquirerProxy)


def worker(address, start_at, seconds, results):
    manager = CounterManager(address=address, authkey=AUTHKEY)
    manager.connect()
    d = manager.get_dict()
    lock = manager.get_lock()
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.perf_counter() + seconds
    ops = 0
    while time.perf_counter() < deadline:
        with lock:
            d['n'] += 1
        ops += 1
    results.put(ops)


def main():
    port, processes, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    address = ('127.0.0.1', port)
    manager = CounterManager(address=address, authkey=AUTHKEY)
    manager.start()
    try:
        results = mp.Queue()
        start_at = time.time() + 0.5
        workers = [mp.Process(target=worker, args=(address, start_at, seconds, results))
                   for _ in range(processes)]
        for process in workers:
            process.start()
        ops = sum(results.get(timeout=seconds + 30) for _ in workers)
        for process in workers:
            process.join(timeout=10)
        final = manager.get_dict()['n']
        print(json.dumps({'ops': ops, 'seconds': seconds, 'rate': ops / seconds, 'final': final}))
    finally:
        manager.shutdown()


if __name__ == '__main__':
    main()
