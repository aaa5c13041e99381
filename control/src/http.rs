//! The HTTP endpoint (`/metrics`, `/bindings`, `/mobiles`): hyper's HTTP/1 server on a
//! current-thread tokio runtime, in one thread pinned to the control core's CPU. Operators bind
//! it to a routable address, so whatever a client does costs a bounded share of that thread and
//! of memory, and every refusal is counted (`roagent_http_refused_total{reason}`):
//! - a request head holds at most [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] headers (hyper's own
//!   bound on its read buffer; beyond it 431 and close), so bytes without a newline cost no more;
//! - it must be complete [`HEAD_DEADLINE`] after the server starts waiting for it: a deadline,
//!   not an idle timer, so trickling bytes cannot extend it (hyper's `header_read_timeout`). The
//!   same deadline closes a keep-alive connection that sends nothing more (counted apart: no
//!   refusal);
//! - a connection lives at most [`CONNECTION_LIFETIME`], which bounds a client that reads its
//!   answer slowly;
//! - at most `metrics.max_connections` are open: one more closes the oldest, so slow clients
//!   cannot lock a scrape out (a scrape needs its slot for milliseconds, an attacker's
//!   connection is the oldest);
//! - request bodies are never read; only GET is answered (405), unknown paths get 404.

use crate::counters::{HttpCounters, HttpRefusal, HTTP_PATHS};
use crate::error::Error;
use crate::metrics::Sources;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// A request head's bound in bytes (request line and headers): hyper's smallest read buffer,
/// twenty times what Prometheus or `roagent bindings` send.
pub const MAX_HEAD_BYTES: usize = 8192;
/// Headers in one request head.
pub const MAX_HEADERS: usize = 32;
/// From the moment the server waits for a request head (a new connection, or the end of the
/// previous answer) until that head is complete.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Whatever a connection does.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// The running HTTP server; stopped and joined on drop.
pub struct Server {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    /// Listens on `addr` and serves from a thread pinned to `cpu` (the control core's, so a
    /// scrape never takes a worker's core), at most `max_connections` connections at once.
    pub fn start(addr: &str, max_connections: usize, sources: Arc<Sources>, cpu: Option<usize>) -> Result<Server, Error> {
        let listener = std::net::TcpListener::bind(addr).map_err(Error::os(format!("metrics.address: cannot listen on {addr}")))?;
        listener.set_nonblocking(true).map_err(Error::os("metrics.address"))?;
        let local = listener.local_addr().map_err(Error::os("metrics.address"))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build().map_err(Error::os("metrics runtime"))?;
        let listener = {
            let _in_runtime = runtime.enter();
            TcpListener::from_std(listener).map_err(Error::os("metrics.address"))?
        };
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("roagent-metrics".into())
            .spawn(move || {
                if let Some(id) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                runtime.block_on(serve(listener, max_connections.max(1), sources, stopped));
            })
            .map_err(Error::os("metrics thread"))?;
        Ok(Server { stop: Some(stop), thread: Some(thread), addr: local })
    }
}

impl std::ops::Drop for Server {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts until `stop` fires or its sender is dropped; the open connections are dropped
/// (closed) with the runtime.
async fn serve(listener: TcpListener, max_connections: usize, sources: Arc<Sources>, mut stop: oneshot::Receiver<()>) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEAD_DEADLINE).max_buf_size(MAX_HEAD_BYTES).max_headers(MAX_HEADERS);
    // Oldest first.
    let mut open: VecDeque<AbortHandle> = VecDeque::with_capacity(max_connections + 1);
    loop {
        let next = std::future::poll_fn(|cx| match Pin::new(&mut stop).poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => listener.poll_accept(cx).map(Some),
        })
        .await;
        let tcp = match next {
            None => return,
            Some(Ok((tcp, _))) => tcp,
            Some(Err(e)) => {
                // Out of file descriptors, most likely: let the open connections end.
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        open.retain(|c| !c.is_finished());
        if open.len() >= max_connections {
            if let Some(oldest) = open.pop_front() {
                oldest.abort();
                sources.http.refused(HttpRefusal::ConnectionCap).inc();
            }
        }
        open.push_back(tokio::spawn(connection(http.clone(), tcp, Open::new(sources.clone()))).abort_handle());
    }
}

/// What one connection's reads and answers have been, for telling an idle keep-alive close
/// from a head that did not arrive in time.
#[derive(Default)]
struct ConnState {
    /// Bytes read since the last complete head.
    read: AtomicU64,
    answered: AtomicU64,
}

/// Counts a connection open from its accept until its task ends or is aborted (also before
/// the task first ran).
struct Open(Arc<Sources>);

impl Open {
    fn new(sources: Arc<Sources>) -> Open {
        let c = &sources.http;
        c.connections_accepted.inc();
        c.connections_open.inc();
        Open(sources)
    }
}

impl std::ops::Drop for Open {
    fn drop(&mut self) {
        let open = &self.0.http.connections_open;
        open.set(open.get().saturating_sub(1));
    }
}

async fn connection(http: http1::Builder, tcp: TcpStream, open: Open) {
    let sources = open.0.clone();
    let state = Arc::new(ConnState::default());
    let io = TokioIo::new(Counted { tcp, state: state.clone() });
    let st = state.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        st.read.store(0, Relaxed);
        st.answered.fetch_add(1, Relaxed);
        std::future::ready(Ok::<_, std::convert::Infallible>(respond(&sources, &req)))
    });
    let c = &open.0.http;
    match tokio::time::timeout(CONNECTION_LIFETIME, http.serve_connection(io, service)).await {
        Err(_) => c.refused(HttpRefusal::Lifetime).inc(),
        Ok(Ok(())) => {}
        Ok(Err(e)) => refusal(c, &e, &state),
    }
}

/// Counts why hyper ended a connection with `e`. A client that hung up is no refusal.
fn refusal(c: &HttpCounters, e: &hyper::Error, state: &ConnState) {
    if e.is_timeout() {
        if state.read.load(Relaxed) == 0 && state.answered.load(Relaxed) > 0 {
            c.idle_closed.inc();
        } else {
            c.refused(HttpRefusal::HeadTimeout).inc();
        }
    } else if e.is_parse_too_large() {
        c.refused(HttpRefusal::HeadTooLarge).inc();
    } else if e.is_parse() {
        c.refused(HttpRefusal::BadRequest).inc();
    } else {
        tracing::debug!("metrics: connection ended: {e}");
    }
}

/// The answer to one request head; its body, if any, is not read.
fn respond(sources: &Sources, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let c = &sources.http;
    if req.method() != Method::GET {
        c.refused(HttpRefusal::Method).inc();
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".into());
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let slot = HTTP_PATHS.iter().position(|p| *p == req.uri().path()).unwrap_or(HTTP_PATHS.len() - 1);
    c.requests[slot].inc();
    match HTTP_PATHS[slot] {
        "/metrics" => text(StatusCode::OK, prometheus::TEXT_FORMAT, sources.render()),
        "/bindings" => text(StatusCode::OK, "application/json", sources.bindings_json()),
        "/mobiles" => text(StatusCode::OK, "application/json", sources.mobiles_json()),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics, /bindings or /mobiles\n".into()),
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The TCP stream, counting the bytes read into [`ConnState::read`].
struct Counted {
    tcp: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        self.state.read.fetch_add((buf.filled().len() - before) as u64, Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
