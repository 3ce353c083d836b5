//! The Solana side of localnet: the chain, its JSON-RPC face, and the slot clock.

mod bank_thread;
pub mod chain;
pub mod grpc;
pub mod rpc;
mod token;

use std::{net::SocketAddr, sync::Arc, time::Duration};

pub use chain::{native_entry, Chain, ChainEvent, Commitment};

use crate::{LocalnetError, ProgramBuild};

/// Where and how fast the local Solana runs.
#[derive(Clone, Debug)]
pub struct SolanaConfig {
    /// Address of the JSON-RPC server (port 0 picks a free one).
    pub rpc_addr: SocketAddr,
    /// Address of the Yellowstone gRPC server (port 0 picks a free one).
    pub grpc_addr: SocketAddr,
    pub slot_time: Duration,
    pub program: ProgramBuild,
}

/// A running local Solana. Dropping it stops the slot clock and the server.
pub struct SolanaNode {
    pub chain: Arc<Chain>,
    pub rpc_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    streams: Arc<grpc::StreamControls>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SolanaNode {
    pub async fn start(config: SolanaConfig) -> Result<Self, LocalnetError> {
        let chain = Arc::new(Chain::start(&config.program).await?);
        let listener = tokio::net::TcpListener::bind(config.rpc_addr).await?;
        let rpc_addr = listener.local_addr()?;
        let app = rpc::router(chain.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("JSON-RPC server stopped: {e}");
            }
        });
        let grpc_listener = tokio::net::TcpListener::bind(config.grpc_addr).await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let streams = Arc::new(grpc::StreamControls::default());
        let geyser = grpc::service(chain.clone(), streams.clone());
        let grpc = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
            let served = tonic::transport::Server::builder()
                .add_service(geyser)
                .serve_with_incoming(incoming)
                .await;
            if let Err(e) = served {
                tracing::error!("gRPC server stopped: {e}");
            }
        });
        let clock_chain = chain.clone();
        let clock = tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.slot_time);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = clock_chain.advance_slot().await {
                    tracing::error!("slot clock stopped: {e}");
                    return;
                }
            }
        });
        Ok(SolanaNode {
            chain,
            rpc_addr,
            grpc_addr,
            streams,
            tasks: vec![server, grpc, clock],
        })
    }

    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The gRPC server's test faults: end every stream, lose blocks (see [`grpc::StreamControls`]).
    pub fn grpc_streams(&self) -> &grpc::StreamControls {
        &self.streams
    }
}

impl Drop for SolanaNode {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
