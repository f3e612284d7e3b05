//! `orbit-haproxy-check SOCKET [MAP]`: checks that orbitd could drive this
//! HAProxy: connects to the runtime API (a unix socket path or
//! `tcp:HOST:PORT`), checks the version, lists maps and backends, and with
//! MAP shows that map's entries. Exit status 0 when all is well, 1 with the
//! error otherwise.

use std::process::ExitCode;
use std::time::Duration;

use orbit_haproxy::{Client, Endpoint, Error};

async fn check(socket: &str, map: Option<&str>) -> Result<(), Error> {
    let mut client = Client::new(Endpoint::parse(socket)?, Duration::from_secs(2));
    client.connect().await?;
    let info = client.show_info().await?;
    println!(
        "haproxy {} (pid {}) at {}",
        info.version,
        info.pid,
        client.endpoint()
    );
    for m in client.show_maps().await? {
        println!(
            "map #{} {} curr_ver={} entries={}",
            m.id, m.file, m.curr_ver, m.entry_cnt
        );
    }
    println!("backends: {}", client.show_backends().await?.join(" "));
    if let Some(map) = map {
        for (k, v) in client.show_map(map, None).await? {
            println!("{map}: {k} -> {v}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(socket) = args.first() else {
        eprintln!("usage: orbit-haproxy-check SOCKET [MAP]");
        return ExitCode::from(64);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(check(socket, args.get(1).map(String::as_str))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
