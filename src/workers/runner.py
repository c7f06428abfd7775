"""``invoicing worker``: N processes x M threads, clean stop on SIGTERM.

Each process builds its own engine, bus and dramatiq ``Worker``. On SIGTERM/SIGINT the worker
stops taking messages, finishes what is in flight (up to ``shutdown_timeout_s``) and closes
its channels; prefetched but unstarted messages return to RabbitMQ unacked. With more than one
process a small supervisor forwards signals and restarts a child that died unexpectedly (one
crashed child never takes the others down).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from types import FrameType

import structlog
from invoicing import bootstrap
from invoicing.config import Settings
from invoicing.pipeline.authenticate import TokenOrUserAuthenticator
from invoicing.workers import gc_pauses
from invoicing.workers.backoff import Backoff
from invoicing.workers.deliveries import DeliveryRunner
from invoicing.workers.settings import PipelineSettings

log = structlog.get_logger("invoicing.worker")

#: dramatiq's ``worker_timeout``: how long an idle worker thread waits on the work queue, and
#: a consumer thread on its connection, before looking whether it should stop. A message or
#: an ack wakes them at once; only an idle wake-up and a stop wait for it. At 200 ms (until
#: session 20) two idle processes of 64 threads used 7-8 % of a core for those wake-ups,
#: 0.5-0.9 ms of the workers' CPU per command at 60-120 commands/s on a slow host; at
#: 1,000 ms 2.8 %, and a stop waits at most a second longer for its threads
#: (docs/pipeline.md, session 20).
IDLE_WAKE_MS = 1000


def authenticator_for(settings: PipelineSettings) -> TokenOrUserAuthenticator:
    return TokenOrUserAuthenticator(
        settings.jwt_secret,
        issuer=settings.jwt_issuer,
        leeway_s=settings.jwt_leeway_s,
        user_grants=settings.amqp_user_grants,
    )


def run_worker_process(settings: Settings, pipeline: PipelineSettings) -> int:
    import dramatiq
    from invoicing.workers.broker import make_broker
    from invoicing.workers.delivery import Outbound
    from invoicing.workers.observe import start_worker_observability
    from invoicing.workers.processor import CommandProcessor
    from invoicing.workers.queries import QueryProcessor

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    app = bootstrap.build(settings, authenticator=authenticator_for(pipeline))
    app.pipeline.enable_batching(
        pipeline.worker_batch, pipeline.worker_batch_leaders
    )  # group commit of the threads' commands
    workloads = pipeline.workloads()
    outbound = Outbound(pipeline, stopping=stop)
    queries = QueryProcessor(outbound, app.pipeline) if pipeline.serves_queries() else None
    broker = make_broker(
        pipeline,
        app.engine,
        CommandProcessor(app.pipeline),
        workloads,
        queries,
        outbound=outbound,
        stopping=stop,
    )
    republisher = None
    if pipeline.retry_store == "database":
        from invoicing.workers.scheduled import Republisher

        republisher = Republisher(app.engine, pipeline, stop)
        republisher.start()
    # surface: metrics port (INVOICING_METRICS_PORT + i) and heartbeat per message (observe.py)
    start_worker_observability(broker, pipeline.worker_processes)
    worker = dramatiq.Worker(
        broker, worker_threads=pipeline.worker_threads, worker_timeout=IDLE_WAKE_MS
    )
    worker.queue_prefetch = pipeline.worker_prefetch or pipeline.worker_threads * 2
    frozen = gc_pauses.settle()  # what start-up built: never scanned by a collection again
    worker.start()
    deliveries = start_delivery_runner(app, pipeline, workloads, stop)
    log.info(
        "worker.started",
        pid=os.getpid(),
        threads=pipeline.worker_threads,
        prefetch=worker.queue_prefetch,
        batch=min(pipeline.worker_batch, pipeline.worker_threads),
        workloads=workloads,
        queries=queries is not None,
        middleware=[type(m).__name__ for m in broker.middleware],
        gc_frozen=frozen,
    )
    while not stop.wait(1.0):
        pass
    log.info("worker.stopping", pid=os.getpid())
    worker.stop(timeout=int(pipeline.shutdown_timeout_s * 1000))
    if deliveries is not None:
        deliveries.join(pipeline.shutdown_timeout_s)
    broker.close()
    if republisher is not None:
        republisher.join(10)
    app.engine.dispose()
    group = app.pipeline.group
    log.info(
        "worker.stopped",
        pid=os.getpid(),
        # group commit: the last 1,000 batches' mean size, and how the batches committed
        batch_mean=round(sum(group.sizes) / len(group.sizes), 2) if group and group.sizes else None,
        batches_without_savepoints=group.optimistic_commits if group else None,
        batches_run_again=group.fallbacks if group else None,
        batches_numbered_in_place=group.numbers_in_place if group else None,
    )
    return 0


def start_delivery_runner(
    app: bootstrap.App, pipeline: PipelineSettings, workloads: list[str], stop: threading.Event
) -> DeliveryRunner | None:
    """Processes that serve the ``documents`` workload also run the delivery jobs (the email
    of ``send_invoice``, dunning notices, payment confirmations) after their commands commit."""
    if "documents" not in workloads or pipeline.delivery_threads == 0:
        return None
    runner = DeliveryRunner(
        app.deliverer,
        threads=pipeline.delivery_threads,
        poll_interval_s=pipeline.delivery_poll_interval_s,
        backoff_base_s=pipeline.transient_backoff_base_s,
        backoff_max_s=pipeline.transient_backoff_max_s,
        stop=stop,
    )
    runner.start()
    return runner


def _child(settings: Settings, pipeline: PipelineSettings) -> None:
    raise SystemExit(run_worker_process(settings, pipeline))


def run_workers(settings: Settings, pipeline: PipelineSettings) -> int:
    if pipeline.worker_processes == 1:
        return run_worker_process(settings, pipeline)
    ctx = multiprocessing.get_context("fork")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children: list[multiprocessing.process.BaseProcess] = []

    def spawn() -> multiprocessing.process.BaseProcess:
        child = ctx.Process(target=_child, args=(settings, pipeline), daemon=False)
        child.start()
        return child

    children = [spawn() for _ in range(pipeline.worker_processes)]
    log.info("supervisor.started", pids=[c.pid for c in children])
    # a child that keeps dying is restarted with the shared backoff (reset once it lived 60 s)
    restarts = [Backoff(1.0, max(1.0, pipeline.transient_backoff_max_s)) for _ in children]
    born = [time.monotonic() for _ in children]
    while not stop.wait(0.5):
        for i, child in enumerate(children):
            if not child.is_alive():
                log.error("worker.died", pid=child.pid, exitcode=child.exitcode)
                if time.monotonic() - born[i] > 60:
                    restarts[i].reset()
                if restarts[i].wait(stop):
                    break
                children[i] = spawn()
                born[i] = time.monotonic()
    for child in children:
        if child.pid is not None and child.is_alive():
            os.kill(child.pid, signal.SIGTERM)
    for child in children:
        child.join(pipeline.shutdown_timeout_s + 5)
    return 0
