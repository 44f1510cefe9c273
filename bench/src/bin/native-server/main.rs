//! `native-server`: the seed's two routes in plain native Rust (hyper + tokio + SQLite), no
//! WebAssembly. It is the benchmark's ceiling: what the same work costs without a sandbox.
//!
//! `native-server --listen 127.0.0.1:PORT --db PATH [--fsync] [--group-commit] [--sleep-seconds S]`

mod counter;
mod routes;

use clap::Parser;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "native-server",
    about = "The seed's /test1 and /test2 as a native hyper server"
)]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// The SQLite file holding the counters (Spin's `spin_key_value` schema).
    #[arg(long)]
    db: PathBuf,
    /// `synchronous=FULL`: every commit reaches the disk before its answer (power-loss safe).
    #[arg(long)]
    fsync: bool,
    /// Commit the increments that queued up during the previous commit in one transaction.
    #[arg(long)]
    group_commit: bool,
    /// How long every second /test1 call sleeps.
    #[arg(long, default_value_t = 20.0)]
    sleep_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sleep = Duration::try_from_secs_f64(args.sleep_seconds)
        .map_err(|e| anyhow::anyhow!("--sleep-seconds {}: {e}", args.sleep_seconds))?;
    let counter = counter::Counter::open(&args.db, args.fsync, args.group_commit)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen).await?;
        let local = listener.local_addr()?;
        println!("Listening on http://{local}");
        serve(listener, Arc::new(routes::App::new(counter, local, sleep))).await
    })
}

/// Accepts forever; one task per connection.
async fn serve(listener: TcpListener, app: Arc<routes::App>) -> anyhow::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically EMFILE under a flood: back off instead of spinning.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(request).await) }
            });
            // A client that goes away mid-request is not the server's error.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
