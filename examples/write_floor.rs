//! The floor under the server's CPU per delivery: what one non-blocking `write` of a
//! websocket text frame costs the writing process on loopback TCP, with no server
//! around it (no queue, no task, no wake-up of our own).
//!
//! ```sh
//! scripts/bench floor            # 10,000 sockets, 150-byte frames, writer on core 0
//! write_floor --sockets 10000 --frame-bytes 150 --frames-per-write 1 --rounds 20
//! ```
//!
//! The writer opens `--sockets` loopback connections to a reader process (this binary
//! with `--reader`, started pinned to the other core with `taskset`), then, per round,
//! writes `--frames-per-write` frames with one `write` to every socket, and waits until
//! the reader has read the whole round before the next one, so every write finds its
//! reader asleep in `epoll` as a server's clients would be between two events. It
//! reports the writer's CPU time (utime+stime from `/proc/self/stat`, and the exact
//! run time from `/proc/self/schedstat`) spent in the write loops, per write and per
//! frame. The kernel charges the loopback receive path (softirq, waking the reader)
//! mostly to the writer, as it does to the server under load, which is why this is the
//! floor for "one frame per socket per event".

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

/// Measures CPU per non-blocking write to many loopback TCP sockets.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Sockets to write to.
    #[arg(long, default_value_t = 10_000)]
    sockets: u32,
    /// Size of one frame in bytes (a websocket text frame, header included).
    #[arg(long, default_value_t = 150)]
    frame_bytes: usize,
    /// Frames per `write` (1 = one frame per socket per event).
    #[arg(long, default_value_t = 1)]
    frames_per_write: usize,
    /// Measured rounds (one write to every socket each).
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// CPUs for the reader process (`taskset -c`); empty runs it unpinned.
    #[arg(long, default_value = "1")]
    reader_cpus: String,
    /// Internal: run as the reader of `--sockets` connections to this address.
    #[arg(long, hide = true)]
    reader: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let wanted = u64::from(args.sockets) + 64;
    let limit = rlimit::increase_nofile_limit(wanted)?;
    if limit < wanted {
        return Err(format!("open-file limit {limit}, need {wanted}").into());
    }
    match &args.reader {
        Some(addr) => read_all(addr, &args),
        None => write_all(&args),
    }
}

/// The writer: accepts the reader's connections, then measures the write rounds.
fn write_all(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut reader = spawn_reader(args, &listener.local_addr()?.to_string())?;
    // The first connection is the reader's control line: one byte per finished round.
    let (mut control, _) = listener.accept()?;
    let mut sockets = Vec::with_capacity(args.sockets as usize);
    for _ in 0..args.sockets {
        let (socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        socket.set_nonblocking(true)?;
        sockets.push(socket);
    }
    let buffer = text_frame(args.frame_bytes).repeat(args.frames_per_write);
    let mut ack = [0u8; 1];
    // One unmeasured round warms the sockets, the allocator and the caches.
    let mut would_block = 0u64;
    let mut ticks = 0u64;
    let mut run_ns = 0u64;
    let wall = Instant::now();
    for round in 0..=args.rounds {
        let (ticks_before, ns_before) = (cpu_ticks()?, run_time_ns()?);
        for socket in &mut sockets {
            match socket.write(&buffer) {
                Ok(n) if n == buffer.len() => {}
                Ok(_) => return Err("short write: the reader fell behind".into()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => would_block += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let (ticks_after, ns_after) = (cpu_ticks()?, run_time_ns()?);
        if round > 0 {
            ticks += ticks_after - ticks_before;
            run_ns += ns_after - ns_before;
        }
        control.read_exact(&mut ack)?;
    }
    let wall = wall.elapsed();
    // The reader has acknowledged everything: it has nothing left to tell.
    drop(sockets);
    let _ = reader.kill();
    let _ = reader.wait();
    print_costs(args, wall, ticks, run_ns, would_block);
    Ok(())
}

/// Starts this program again as the reader of `addr` (on `--reader-cpus` if given).
fn spawn_reader(args: &Args, addr: &str) -> std::io::Result<std::process::Child> {
    let exe = std::env::current_exe()?;
    let mut command = if args.reader_cpus.is_empty() {
        Command::new(&exe)
    } else {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", &args.reader_cpus]).arg(&exe);
        taskset
    };
    command
        .args(["--reader", addr, "--sockets", &args.sockets.to_string()])
        .arg(format!("--frame-bytes={}", args.frame_bytes))
        .arg(format!("--frames-per-write={}", args.frames_per_write))
        .stdin(Stdio::null())
        .spawn()
}

/// A server→client websocket text frame of `bytes` bytes: FIN + text opcode, unmasked
/// length, `x` as payload.
fn text_frame(bytes: usize) -> Vec<u8> {
    let mut frame = vec![b'x'; bytes];
    frame[0] = 0x81;
    if bytes >= 128 {
        frame[1] = 126;
        frame[2..4].copy_from_slice(&((bytes - 4) as u16).to_be_bytes());
    } else {
        frame[1] = (bytes - 2) as u8;
    }
    frame
}

/// Prints the writer's CPU cost per write and per frame.
fn print_costs(args: &Args, wall: Duration, ticks: u64, run_ns: u64, would_block: u64) {
    let writes = u64::from(args.sockets) * args.rounds;
    let frames = writes * args.frames_per_write as u64;
    let tick_ns = 1e9 / ticks_per_second() as f64;
    let utime_stime_ns = ticks as f64 * tick_ns;
    println!(
        "{} sockets, {} rounds, {} B frames, {} per write: {writes} writes in {:.2} s",
        args.sockets,
        args.rounds,
        args.frame_bytes,
        args.frames_per_write,
        wall.as_secs_f64()
    );
    println!(
        "writer CPU per write: {:.2} µs (schedstat), {:.2} µs (utime+stime, {} ticks)",
        run_ns as f64 / writes as f64 / 1e3,
        utime_stime_ns / writes as f64 / 1e3,
        ticks
    );
    println!(
        "writer CPU per frame: {:.2} µs (schedstat); would-block writes: {would_block}",
        run_ns as f64 / frames as f64 / 1e3
    );
}

/// The reader: connects every socket, reads them on one thread with epoll (tokio),
/// and acknowledges each complete round on the control line.
fn read_all(addr: &str, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut control = tokio::net::TcpStream::connect(addr).await?;
        let read = Arc::new(AtomicU64::new(0));
        let round_done = Arc::new(tokio::sync::Notify::new());
        let round_bytes =
            u64::from(args.sockets) * (args.frame_bytes * args.frames_per_write) as u64;
        for _ in 0..args.sockets {
            let stream = tokio::net::TcpStream::from_std(connect(addr)?)?;
            let read = Arc::clone(&read);
            let round_done = Arc::clone(&round_done);
            tokio::spawn(async move {
                let mut stream = stream;
                let mut buffer = vec![0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                    let total = read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                    if total.is_multiple_of(round_bytes) {
                        round_done.notify_one();
                    }
                }
            });
        }
        let mut acknowledged = 0u64;
        // Ends when the writer kills this process.
        loop {
            round_done.notified().await;
            let rounds = read.load(Ordering::Relaxed) / round_bytes;
            while acknowledged < rounds {
                acknowledged += 1;
                control.write_all(b".").await?;
            }
        }
    })
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// utime + stime of this process, in clock ticks (`/proc/self/stat` fields 14 and 15).
fn cpu_ticks() -> std::io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name may hold spaces: fields are counted after its closing paren.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Field 14 of the whole line is index 11 after the paren (state is field 3).
    Ok(field(11) + field(12))
}

/// Time this (single-threaded) process has run on a CPU, in ns (`/proc/self/schedstat`).
fn run_time_ns() -> std::io::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/schedstat")?;
    Ok(text
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .unwrap_or(0))
}

/// `sysconf(_SC_CLK_TCK)` is 100 on every Linux this runs on; `getconf` confirms it.
fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}
