//! The `jindou-webhook` thread: a tokio current-thread runtime with a keep-alive HTTP client
//! (reqwest) or a gRPC client (tonic), the delivery loops of the three events, and the
//! datasource calls.

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
    pub(crate) async fn send(&self, event: &str, body: Vec<u8>) -> Result<(), String> {
        match self {
            Transport::Http { client, base } => {
                let resp = client
                    .post(format!("{base}?event={event}"))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = resp.status();
                // Read the body so the connection goes back to the pool.
                let _ = resp.bytes().await;
                if status == reqwest::StatusCode::OK {
                    Ok(())
                } else {
                    Err(format!("HTTP {status}"))
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
                    .map_err(|e| e.to_string())?;
                if resp.get_ref().status == super::proto::EventStatus::Success as i32 {
                    Ok(())
                } else {
                    Err("gRPC status Error".into())
                }
            }
        }
    }
}

/// Pause before attempt `attempt + 1` (100 ms doubling, at most 2 s).
fn backoff(attempt: usize) -> Duration {
    Duration::from_millis(100u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(2))
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
                            for (brx, atx) in workers {
                                tasks.push(tokio::spawn(notify_worker(
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

/// Delivers one shard's `msg.notify` batches strictly in order.
async fn notify_worker(
    t: Transport,
    cfg: HookConfig,
    mut batches: mpsc::Receiver<NotifyBatch>,
    acks: mpsc::UnboundedSender<NotifyAck>,
    stats: Arc<HookStats>,
) {
    while let Some(batch) = batches.recv().await {
        let (body, events) = notify_body(&batch);
        drop(batch.buf);
        let mut ack = NotifyAck {
            end: batch.end,
            sent: 0,
            failures: 0,
            dropped: 0,
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
                        break;
                    }
                    Err(e) => {
                        ack.failures += 1;
                        bump(&stats.notify_failures, 1);
                        if attempt >= cfg.retry_max {
                            ack.dropped = events;
                            bump(&stats.notify_dropped, events);
                            tracing::warn!(events, attempts = attempt, error = %e, end_lsn = batch.end, "msg.notify batch dropped after the retry limit");
                            break;
                        }
                        tracing::debug!(attempt, error = %e, "msg.notify failed; retrying");
                        tokio::time::sleep(backoff(attempt)).await;
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
