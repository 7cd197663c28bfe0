//! The listener: accepts connections and runs one session task per client until shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::session::{self, Shared};
use super::{LoginRecord, ServerConfig};

/// A running test server. Dropping it stops accepting and closes every connection (like
/// [`TestServer::shutdown`], without waiting).
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind((config.bind, config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let config = Arc::new(config);
        let accept = tokio::spawn({
            let (shared, tasks) = (shared.clone(), tasks.clone());
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let session = tokio::spawn(session::run(stream, config.clone(), shared.clone()));
                    let mut tasks = tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    tasks.retain(|task| !task.is_finished());
                    tasks.push(session);
                }
            }
        });
        Ok(TestServer { addr, shared, tasks, accept: Some(accept) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every SQL batch text received, in arrival order, across connections.
    pub fn batches(&self) -> Vec<String> {
        self.shared.batches.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Every LOGIN7 received (accepted or not), without passwords.
    pub fn logins(&self) -> Vec<LoginRecord> {
        self.shared.logins.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Stops accepting, closes every connection and waits until all of it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            // Once the accept loop has ended, no session can be added behind our back.
            let _ = accept.await;
        }
        for session in self.take_sessions() {
            session.abort();
            let _ = session.await;
        }
    }

    fn take_sessions(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for session in self.take_sessions() {
            session.abort();
        }
    }
}
