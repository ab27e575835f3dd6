//! The `jindou-webhook` thread: a tokio current-thread runtime with a keep-alive HTTP client
//! (reqwest) or a gRPC client (tonic), the delivery loops of the three events, and the
//! datasource calls.

use super::deadletter::{DeadLetter, Parked};
use super::events::{notify_body, offline_body};
use super::proto::webhook_service_client::WebhookServiceClient;
use super::{
    bump, drop_gauge, HookConfig, HookStats, Hub, NotifyAck, NotifyBatch, NotifyLink, OfflineEvent,
    EVENT_NOTIFY, EVENT_OFFLINE, EVENT_ONLINE, GRPC_TIMEOUT, HTTP_TIMEOUT, MAX_IN_FLIGHT,
    OFFLINE_QUEUE, ONLINE_QUEUE,
};
use crate::config::Config;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Most `msg.offline` requests in flight at once.
const OFFLINE_CONCURRENCY: usize = 32;

/// Where events go.
#[derive(Clone)]
pub(crate) enum Transport {
    /// `POST {base}?event=NAME`.
    Http {
        client: reqwest::Client,
        base: String,
    },
    /// `wkhook.WebhookService/SendWebhook`.
    Grpc {
        client: WebhookServiceClient<tonic::transport::Channel>,
    },
}

impl Transport {
    fn new(cfg: &HookConfig) -> Result<Transport, String> {
        if !cfg.grpc_addr.is_empty() {
            let url = if cfg.grpc_addr.contains("://") {
                cfg.grpc_addr.clone()
            } else {
                format!("http://{}", cfg.grpc_addr)
            };
            let endpoint = tonic::transport::Endpoint::from_shared(url)
                .map_err(|e| format!("webhook.grpcAddr: {e}"))?
                .timeout(GRPC_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true);
            return Ok(Transport::Grpc {
                client: WebhookServiceClient::new(endpoint.connect_lazy()),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Transport::Http {
            client,
            base: cfg.http_addr.clone(),
        })
    }

    /// Delivers one event; `Ok` iff HTTP 200 (or gRPC `Success`).
    pub(crate) async fn send(&self, event: &str, body: Vec<u8>) -> Result<(), Failure> {
        match self {
            Transport::Http { client, base } => {
                let resp = client
                    .post(format!("{base}?event={event}"))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| Failure::Retry(e.to_string()))?;
                let status = resp.status();
                // Read the body so the connection goes back to the pool.
                let _ = resp.bytes().await;
                if status == reqwest::StatusCode::OK {
                    Ok(())
                } else {
                    Err(Failure::of_http(status.as_u16(), format!("HTTP {status}")))
                }
            }
            Transport::Grpc { client } => {
                let mut req = tonic::Request::new(super::proto::EventReq {
                    event: event.to_string(),
                    data: body,
                });
                req.set_timeout(GRPC_TIMEOUT);
                let resp = client
                    .clone()
                    .send_webhook(req)
                    .await
                    .map_err(|e| Failure::of_grpc(e.code(), e.to_string()))?;
                if resp.get_ref().status == super::proto::EventStatus::Success as i32 {
                    Ok(())
                } else {
                    Err(Failure::Retry("gRPC status Error".into()))
                }
            }
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Worth another attempt: no connection, a timeout, a 5xx, 408, 429, any other answer but
    /// 200, a gRPC `Error` answer or a transient gRPC status.
    Retry(String),
    /// The receiver refused this request (HTTP 4xx but 408 and 429; gRPC `InvalidArgument`,
    /// `NotFound`, `AlreadyExists`, `PermissionDenied`, `FailedPrecondition`, `OutOfRange`,
    /// `Unimplemented`, `Unauthenticated`): the same request would be refused again.
    Rejected(String),
}

impl Failure {
    /// Classifies a non-200 HTTP answer.
    pub(crate) fn of_http(status: u16, text: String) -> Failure {
        match status {
            408 | 429 => Failure::Retry(text),
            400..=499 => Failure::Rejected(text),
            _ => Failure::Retry(text),
        }
    }

    /// Classifies a gRPC error status.
    fn of_grpc(code: tonic::Code, text: String) -> Failure {
        use tonic::Code;
        match code {
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Unauthenticated => Failure::Rejected(text),
            _ => Failure::Retry(text),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry(e) | Failure::Rejected(e) => f.write_str(e),
        }
    }
}

/// Pause after failed attempt `attempt` (1-based) of a `msg.notify` batch: 100 ms doubling (at
/// most 2 s) after each of the first `fast - 1` failures, then 1 s doubling, never more than
/// `max`. There is no last attempt.
pub(crate) fn notify_backoff(attempt: usize, fast: usize, max: Duration) -> Duration {
    let pause = if attempt < fast {
        Duration::from_millis(100u64 << attempt.saturating_sub(1).min(5))
            .min(Duration::from_secs(2))
    } else {
        Duration::from_secs(1u64 << (attempt - fast).min(16))
    };
    pause.min(max)
}

/// Starts the `jindou-webhook` thread when a webhook or a datasource is configured.
pub fn start(config: &Config, shards: usize) -> io::Result<Option<Arc<Hub>>> {
    let hook = HookConfig::from_config(config);
    let ds = crate::datasource::DsConfig::from_config(config);
    if hook.is_none() && ds.is_none() {
        return Ok(None);
    }
    let stats = Arc::new(HookStats::default());
    let mut links = Vec::new();
    let mut workers = Vec::new();
    let (mut offline_tx, mut online_tx) = (None, None);
    let (mut offline_rx, mut online_rx) = (None, None);
    if let Some(h) = &hook {
        if h.notify_on {
            for _ in 0..shards {
                let (btx, brx) = mpsc::channel::<NotifyBatch>(MAX_IN_FLIGHT);
                let (atx, arx) = mpsc::unbounded_channel::<NotifyAck>();
                links.push(Some(NotifyLink {
                    batches: btx,
                    acks: arx,
                }));
                workers.push((brx, atx));
            }
        }
        if h.offline_on {
            let (tx, rx) = mpsc::channel(OFFLINE_QUEUE);
            offline_tx = Some(tx);
            offline_rx = Some(rx);
        }
        if h.online_on {
            let (tx, rx) = mpsc::channel(ONLINE_QUEUE);
            online_tx = Some(tx);
            online_rx = Some(rx);
        }
    }
    let (ds_client, ds_rx) = match &ds {
        Some(d) => {
            let (client, rx) = crate::datasource::Client::new(d.clone());
            (Some(client), Some(rx))
        }
        None => (None, None),
    };
    let hub = Arc::new(Hub {
        hook: hook.clone(),
        stats: stats.clone(),
        offline: offline_tx,
        online: online_tx,
        links: Mutex::new(links),
        datasource: ds_client,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("jindou-webhook".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut tasks = Vec::new();
                if let Some(cfg) = hook {
                    match Transport::new(&cfg) {
                        Ok(t) => {
                            tracing::info!(
                                http = %cfg.http_addr,
                                grpc = %cfg.grpc_addr,
                                "webhook started"
                            );
                            for (shard, (brx, atx)) in workers.into_iter().enumerate() {
                                tasks.push(tokio::spawn(notify_worker(
                                    shard,
                                    t.clone(),
                                    cfg.clone(),
                                    brx,
                                    atx,
                                    stats.clone(),
                                )));
                            }
                            if let Some(rx) = offline_rx {
                                tasks.push(tokio::spawn(offline_worker(
                                    t.clone(),
                                    cfg.clone(),
                                    rx,
                                    stats.clone(),
                                )));
                            }
                            if let Some(rx) = online_rx {
                                tasks.push(tokio::spawn(online_worker(
                                    t.clone(),
                                    cfg.clone(),
                                    rx,
                                    stats.clone(),
                                )));
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "webhook disabled"),
                    }
                }
                if let (Some(d), Some(rx)) = (ds, ds_rx) {
                    tasks.push(tokio::spawn(crate::datasource::worker(d, rx)));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        })?;
    Ok(Some(hub))
}

/// Delivers one shard's `msg.notify` batches strictly in order: each until the receiver
/// accepts it (retrying for as long as it takes) or refuses it (then it is parked in the
/// shard's dead-letter file); acknowledges each to the shard only then.
async fn notify_worker(
    shard: usize,
    t: Transport,
    cfg: HookConfig,
    mut batches: mpsc::Receiver<NotifyBatch>,
    acks: mpsc::UnboundedSender<NotifyAck>,
    stats: Arc<HookStats>,
) {
    let dead_letter = DeadLetter {
        path: cfg.dead_letter_path(shard),
        max: cfg.dead_letter_max,
        durable: cfg.durable,
    };
    while let Some(batch) = batches.recv().await {
        let (body, events) = notify_body(&batch);
        drop(batch.buf);
        let mut ack = NotifyAck {
            end: batch.end,
            sent: 0,
            failures: 0,
            parked: 0,
            lost: 0,
        };
        if events > 0 {
            bump(&stats.queue, events);
            let mut attempt = 0;
            loop {
                attempt += 1;
                match t.send(EVENT_NOTIFY, body.clone()).await {
                    Ok(()) => {
                        ack.sent = events;
                        bump(&stats.notify_sent, events);
                        if attempt > cfg.retry_max {
                            tracing::info!(
                                shard,
                                events,
                                attempts = attempt,
                                end_lsn = batch.end,
                                "msg.notify delivered again after the receiver's outage"
                            );
                        }
                        break;
                    }
                    Err(Failure::Rejected(e)) => {
                        ack.failures += 1;
                        bump(&stats.notify_failures, 1);
                        park(
                            shard,
                            &dead_letter,
                            &e,
                            events,
                            batch.end,
                            &body,
                            &mut ack,
                            &stats,
                        )
                        .await;
                        break;
                    }
                    Err(Failure::Retry(e)) => {
                        ack.failures += 1;
                        bump(&stats.notify_failures, 1);
                        let pause = notify_backoff(attempt, cfg.retry_max, cfg.retry_max_interval);
                        if attempt == cfg.retry_max
                            || (attempt > cfg.retry_max && attempt % 10 == 0)
                        {
                            tracing::warn!(shard, events, attempts = attempt, error = %e, end_lsn = batch.end, next_in_ms = pause.as_millis() as u64, "msg.notify receiver unavailable; retrying until it accepts (nothing is dropped)");
                        } else {
                            tracing::debug!(shard, attempt, error = %e, "msg.notify failed; retrying");
                        }
                        tokio::time::sleep(pause).await;
                    }
                }
            }
            drop_gauge(&stats.queue, events);
        }
        if acks.send(ack).is_err() {
            return;
        }
    }
}

/// Parks a refused batch in the dead-letter file (off the runtime thread: it fsyncs), or
/// counts it as lost when the file is full or cannot be written.
#[allow(clippy::too_many_arguments)]
async fn park(
    shard: usize,
    dl: &DeadLetter,
    reason: &str,
    events: u64,
    end_lsn: u64,
    body: &[u8],
    ack: &mut NotifyAck,
    stats: &HookStats,
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let line = super::deadletter::line(shard, reason, events, end_lsn, body, now);
    let writer = dl.clone();
    let result = tokio::task::spawn_blocking(move || writer.park(&line))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    let path = dl.path.display();
    match result {
        Ok(Parked::Yes) => {
            ack.parked = events;
            bump(&stats.notify_deadletter, events);
            tracing::error!(shard, events, end_lsn, reason, file = %path, "msg.notify batch refused by the receiver; parked in the dead-letter file");
        }
        Ok(Parked::Full(size)) => {
            ack.lost = events;
            bump(&stats.notify_deadletter_lost, events);
            tracing::error!(shard, events, end_lsn, reason, file = %path, size, max = dl.max, "msg.notify batch refused by the receiver and NOT parked: the dead-letter file is full (webhook.deadLetterMaxSize)");
        }
        Err(e) => {
            ack.lost = events;
            bump(&stats.notify_deadletter_lost, events);
            tracing::error!(shard, events, end_lsn, reason, file = %path, error = %e, "msg.notify batch refused by the receiver and NOT parked: the dead-letter file cannot be written");
        }
    }
}

/// Sends each `msg.offline` event once (fire and forget, spec §11.3), a few at a time.
async fn offline_worker(
    t: Transport,
    cfg: HookConfig,
    mut rx: mpsc::Receiver<OfflineEvent>,
    stats: Arc<HookStats>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(OFFLINE_CONCURRENCY));
    while let Some(ev) = rx.recv().await {
        let body = offline_body(&ev, cfg.compress_of_count, cfg.node_id);
        drop(ev);
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let t = t.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            match t.send(EVENT_OFFLINE, body).await {
                Ok(()) => bump(&stats.offline_sent, 1),
                Err(e) => {
                    bump(&stats.offline_failures, 1);
                    tracing::debug!(error = %e, "msg.offline not delivered");
                }
            }
            drop_gauge(&stats.queue, 1);
            drop(permit);
        });
    }
}

/// Sends everything accumulated as one JSON array of strings; on failure pauses 1 s and
/// resends the same batch, dropping it after `msgNotifyEventRetryMaxCount` attempts.
async fn online_worker(
    t: Transport,
    cfg: HookConfig,
    mut rx: mpsc::Receiver<String>,
    stats: Arc<HookStats>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < ONLINE_QUEUE {
            match rx.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let body = serde_json::to_vec(&batch).unwrap_or_default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match t.send(EVENT_ONLINE, body.clone()).await {
                Ok(()) => {
                    bump(&stats.online_sent, n);
                    break;
                }
                Err(e) => {
                    bump(&stats.online_failures, 1);
                    if attempt >= cfg.retry_max {
                        bump(&stats.online_dropped, n);
                        tracing::warn!(entries = n, error = %e, "user.onlinestatus batch dropped after the retry limit");
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        drop_gauge(&stats.queue, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_retries_then_slower_ones_capped_and_no_last_attempt() {
        let max = Duration::from_secs(30);
        let ms = |a| notify_backoff(a, 5, max).as_millis() as u64;
        // msgNotifyEventRetryMaxCount 5: WuKongIM's fast attempts...
        assert_eq!((1..5).map(ms).collect::<Vec<_>>(), [100, 200, 400, 800]);
        // ...then 1 s doubling up to the cap, for ever.
        assert_eq!(
            (5..12).map(ms).collect::<Vec<_>>(),
            [1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        assert_eq!(ms(1_000_000), 30_000);
        assert_eq!(
            notify_backoff(3, 5, Duration::from_millis(150)).as_millis(),
            150
        );
        // One fast attempt: slow from the first failure on.
        assert_eq!(notify_backoff(1, 1, max).as_millis(), 1000);
    }

    #[test]
    fn refusals_are_4xx_but_408_and_429() {
        let kind = |s| match Failure::of_http(s, String::new()) {
            Failure::Retry(_) => "retry",
            Failure::Rejected(_) => "refused",
        };
        for s in [400, 401, 403, 404, 409, 413, 422, 499] {
            assert_eq!(kind(s), "refused", "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504, 201, 204, 301, 302] {
            assert_eq!(kind(s), "retry", "{s}");
        }
        assert_eq!(
            Failure::of_grpc(tonic::Code::Unavailable, String::new()),
            Failure::Retry(String::new())
        );
        assert_eq!(
            Failure::of_grpc(tonic::Code::InvalidArgument, String::new()),
            Failure::Rejected(String::new())
        );
    }
}
